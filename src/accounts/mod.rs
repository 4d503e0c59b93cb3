//! People: accounts, passwords, browser sessions.

pub mod password;
pub mod sessions;
pub mod throttle;
pub mod users;
