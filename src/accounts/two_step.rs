//! Two-step verification with TOTP (RFC 6238): the second step at sign-in,
//! enrolment, and turning it off. Codes are never accepted twice (the last
//! step used is advanced atomically), wrong ones are throttled per account.

use serde::{Deserialize, Serialize};

use super::Accounts;
use super::throttle::Kind;
use super::totp;
use super::users::{self, AccountError};
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::crypto::random_token;
use crate::ephemeral::kinds::{SECOND_STEP, TOTP_ENROLMENT};
use crate::store::{TotpRecord, User};

/// A sign-in waiting for its second step.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingStep {
    pub user_id: String,
    /// The pending authorization request to resume afterwards.
    pub request_id: Option<String>,
    /// The browser that did the first step (hash of its CSRF cookie): the
    /// step must be finished there.
    pub binding: String,
    /// The `amr` of the first step (`pwd`, or `fed github`).
    pub first: Vec<String>,
}

/// After a first step for an account with TOTP: the id of the second step,
/// for the form.
pub async fn begin(
    a: Accounts<'_>, user: &User, request_id: Option<&str>, binding: String, first: Vec<String>,
) -> Result<String, AccountError> {
    let id = random_token(32);
    let pending = PendingStep { user_id: user.id.clone(), request_id: request_id.map(str::to_string), binding, first };
    SECOND_STEP.put(a.ephemeral, &id, &pending).await?;
    Ok(id)
}

/// How a second step went.
#[derive(Debug)]
pub enum StepOutcome {
    /// Passed: sign in with `amr` and resume `request_id`.
    Passed { user: User, amr: Vec<String>, request_id: Option<String> },
    /// Not a good code: ask again, after `delay`.
    Wrong { delay: std::time::Duration },
    /// Too many wrong codes: seconds to wait (the step is void).
    Locked(i64),
    /// Unknown, expired, finished, or another browser's.
    Expired,
}

/// Checks the code of second step `id`, from the browser whose binding is
/// `binding` (None: it has no CSRF cookie yet, so it cannot be the one).
pub async fn submit(
    a: Accounts<'_>, id: &str, binding: Option<&str>, code: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<StepOutcome, AccountError> {
    let Some(pending) = SECOND_STEP.get_bound(a.ephemeral, id, binding).await? else {
        return Ok(StepOutcome::Expired);
    };
    let throttle = a.throttle();
    if let Some(wait) = throttle.locked(Kind::SecondFactor, &pending.user_id, origin.ip, now).await? {
        return Ok(StepOutcome::Locked(wait));
    }
    let Some(user) = users::enabled(a.store, &pending.user_id).await? else {
        return Ok(StepOutcome::Expired);
    };
    let Some(used) = check_code(a, &user, code.trim(), now).await? else {
        audit::record(a.store, now, origin.event("mfa.use", "failure", Some(&user.id))).await;
        let failure = throttle.fail(Kind::SecondFactor, &user.id, origin.ip, now).await?;
        if let Some(wait) = failure.locked_for {
            SECOND_STEP.delete(a.ephemeral, id).await?;
            return Ok(StepOutcome::Locked(wait));
        }
        return Ok(StepOutcome::Wrong { delay: failure.delay });
    };
    // The step is done once, even if the form is sent twice.
    if SECOND_STEP.take(a.ephemeral, id).await?.is_none() {
        return Ok(StepOutcome::Expired);
    }
    throttle.succeeded(Kind::SecondFactor, &user.id).await?;
    audit::record(a.store, now, origin.event(used, "success", Some(&user.id))).await;
    let mut amr = pending.first;
    amr.extend(["otp".to_string(), "mfa".to_string()]);
    Ok(StepOutcome::Passed { user, amr, request_id: pending.request_id })
}

/// A current TOTP code (never one already used) or an unused backup code.
/// Returns the audit event name of what was used.
async fn check_code(
    a: Accounts<'_>, user: &User, code: &str, now: Timestamp,
) -> Result<Option<&'static str>, AccountError> {
    let Some(record) = a.store.get_totp(&user.id).await? else {
        return Ok(None);
    };
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == totp::DIGITS && digits.chars().all(|c| c.is_ascii_digit()) {
        let Some(secret) = totp::open(key(a), &user.id, &record.secret_sealed) else {
            return Err(AccountError::Key("a TOTP secret does not open with the configured key"));
        };
        let Some(step) = totp::verify(&secret, &digits, now, record.last_step) else {
            return Ok(None);
        };
        // Recorded atomically: of two uses of one code, one wins.
        return Ok(a.store.advance_totp_step(&user.id, step).await?.then_some("mfa.use"));
    }
    let hash = totp::backup_code_hash(code);
    Ok(a.store.use_backup_code(&user.id, &hash, now).await?.then_some("mfa.backup_code"))
}

fn key<'a>(a: Accounts<'a>) -> &'a [u8] {
    a.at_rest_key.expose().as_bytes()
}

/// An enrolment to show: the QR code and the key to type in.
#[derive(Debug)]
pub struct Enrolment {
    pub qr_svg: String,
    /// The key in base32, in groups of four.
    pub secret: String,
}

fn enrolment_view(a: Accounts<'_>, user: &User, secret: &[u8]) -> Enrolment {
    let uri = totp::otpauth_uri(&a.config.brand.name, &user.username, secret);
    Enrolment {
        qr_svg: totp::qr_svg(&uri),
        secret: totp::base32(secret)
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Starts enrolment with a new secret (kept sealed until confirmed); None
/// when two-step verification is on already.
pub async fn start_enrolment(a: Accounts<'_>, user: &User) -> Result<Option<Enrolment>, AccountError> {
    if a.store.get_totp(&user.id).await?.is_some() {
        return Ok(None);
    }
    let secret = totp::generate_secret();
    let sealed = totp::seal(key(a), &user.id, &secret);
    TOTP_ENROLMENT.put(a.ephemeral, &user.id, &crate::crypto::b64url(&sealed)).await?;
    Ok(Some(enrolment_view(a, user, &secret)))
}

/// How confirming an enrolment went.
#[derive(Debug)]
pub enum Confirmation {
    /// On: the backup codes, to show once.
    Enabled(Vec<String>),
    /// The code was not right: the enrolment again.
    WrongCode(Enrolment),
    /// No enrolment in progress (or it expired).
    Expired,
}

/// Turns two-step verification on with a first code from the app.
pub async fn confirm_enrolment(
    a: Accounts<'_>, user: &User, code: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<Confirmation, AccountError> {
    let sealed: Option<Vec<u8>> =
        TOTP_ENROLMENT.get(a.ephemeral, &user.id).await?.and_then(|text| crate::crypto::b64url_decode(&text));
    let Some(sealed) = sealed else {
        return Ok(Confirmation::Expired);
    };
    let Some(secret) = totp::open(key(a), &user.id, &sealed) else {
        return Ok(Confirmation::Expired);
    };
    let Some(step) = totp::verify(&secret, code, now, None) else {
        return Ok(Confirmation::WrongCode(enrolment_view(a, user, &secret)));
    };
    let codes = totp::backup_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::backup_code_hash(c)).collect();
    let record = TotpRecord {
        user_id: user.id.clone(),
        secret_sealed: sealed,
        // The confirming code is spent.
        last_step: Some(step),
        enabled_at: now,
    };
    a.store.enable_totp(&record, &hashes).await?;
    TOTP_ENROLMENT.delete(a.ephemeral, &user.id).await?;
    audit::record(a.store, now, origin.event("mfa.enrol", "success", Some(&user.id))).await;
    Ok(Confirmation::Enabled(codes))
}

/// Turns two-step verification off, given a current code, a backup code or
/// the password; false (throttled and audited) otherwise.
pub async fn disable(
    a: Accounts<'_>, user: &User, proof: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<bool, AccountError> {
    let proof = proof.trim();
    let by_code = check_code(a, user, proof, now).await?.is_some();
    let by_password = !by_code
        && user.password_hash.is_some()
        && matches!(a.hasher.verify(proof, user.password_hash.as_deref()).await, Ok(v) if v.ok);
    if !(by_code || by_password) {
        a.throttle().fail(Kind::SecondFactor, &user.id, origin.ip, now).await?;
        audit::record(a.store, now, origin.event("mfa.disable", "failure", Some(&user.id))).await;
        return Ok(false);
    }
    a.store.disable_totp(&user.id).await?;
    audit::record(a.store, now, origin.event("mfa.disable", "success", Some(&user.id))).await;
    super::alerts::send(a, user, super::alerts::Alert::TwoStepOff, origin, now);
    Ok(true)
}
