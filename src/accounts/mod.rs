//! People: accounts, passwords, browser sessions.

pub mod email_links;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod totp;
pub mod users;
