//! Security emails: a person hears of every change to how their account is
//! protected, at the address on the account, so a takeover does not go
//! unnoticed. Sent in the background: the page never waits on mail.

use super::Accounts;
use super::recovery::send_later;
use crate::audit::Origin;
use crate::clock::{Timestamp, utc_text};
use crate::http::routes;
use crate::store::User;

/// What changed.
#[derive(Debug, Clone, Copy)]
pub enum Alert<'a> {
    PasswordChanged,
    PasswordReset,
    TwoStepOff,
    /// A GitHub account (its login) can now sign in to this one.
    GithubLinked(&'a str),
    GithubUnlinked(&'a str),
}

impl Alert<'_> {
    fn subject(&self) -> &'static str {
        match self {
            Alert::PasswordChanged => "Your password was changed",
            Alert::PasswordReset => "Your password was reset",
            Alert::TwoStepOff => "Two-step verification was turned off",
            Alert::GithubLinked(_) => "A GitHub account can now sign in to your account",
            Alert::GithubUnlinked(_) => "GitHub was unlinked from your account",
        }
    }

    fn what(&self) -> String {
        match self {
            Alert::PasswordChanged => "The password of your account was changed.".into(),
            Alert::PasswordReset => "The password of your account was reset through an email link.".into(),
            Alert::TwoStepOff => "Two-step verification was turned off: your password alone now signs you in.".into(),
            Alert::GithubLinked(login) => format!("The GitHub account @{login} was linked: it now signs you in."),
            Alert::GithubUnlinked(login) => format!("The GitHub account @{login} was unlinked."),
        }
    }
}

/// Tells `user` what changed, when and from where, and what to do if it was
/// not them.
pub fn send(a: Accounts<'_>, user: &User, alert: Alert<'_>, origin: Origin<'_>, now: Timestamp) {
    let brand = &a.config.brand.name;
    let issuer = &a.config.issuer;
    let from = origin.ip.map(|ip| format!(" from {ip}")).unwrap_or_default();
    let text = format!(
        "Hello {},\n\n{}\n\nWhen: {}{from}\n\nIf this was you, there is nothing to do. If it was not, reset your \
         password now at {issuer}{} and then sign out everywhere from {issuer}{}.\n",
        user.username,
        alert.what(),
        utc_text(now),
        routes::FORGOT_PASSWORD,
        routes::ACCOUNT,
    );
    send_later(a, user, format!("{brand}: {}", alert.subject()), text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_alert_says_what_changed() {
        assert!(Alert::GithubLinked("octo").what().contains("@octo"));
        assert!(Alert::TwoStepOff.what().contains("password alone"));
        assert_ne!(Alert::PasswordChanged.subject(), Alert::PasswordReset.subject());
    }
}
