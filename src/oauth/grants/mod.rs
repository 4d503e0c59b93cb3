//! Token-endpoint grants, one file per grant type.

pub mod authorization_code;
