//! Server-rendered pages. Templates are compiled into the binary (so the one
//! file runs anywhere) and each page has a typed context.

use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::config::Brand;
use crate::store::ClientId;

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {source}")]
pub struct RenderError {
    name: &'static str,
    source: minijinja::Error,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("signup.html", include_str!("../templates/signup.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("signed_out.html", include_str!("../templates/signed_out.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("link_github.html", include_str!("../templates/link_github.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("nav.html", include_str!("../templates/nav.html")),
    ("admin.html", include_str!("../templates/admin.html")),
    ("apps.html", include_str!("../templates/apps.html")),
    ("app_form.html", include_str!("../templates/app_form.html")),
    ("app.html", include_str!("../templates/app.html")),
    ("mfa.html", include_str!("../templates/mfa.html")),
    ("mfa_setup.html", include_str!("../templates/mfa_setup.html")),
    ("backup_codes.html", include_str!("../templates/backup_codes.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    ("device.html", include_str!("../templates/device.html")),
    ("device_confirm.html", include_str!("../templates/device_confirm.html")),
    ("device_done.html", include_str!("../templates/device_done.html")),
    ("apis.html", include_str!("../templates/apis.html")),
    ("api_form.html", include_str!("../templates/api_form.html")),
    ("api.html", include_str!("../templates/api.html")),
    ("confirm.html", include_str!("../templates/confirm.html")),
];

pub const STYLESHEET: &str = include_str!("../static/latchkey.css");
pub const SCRIPT: &str = include_str!("../static/copy.js");

pub struct Templates {
    env: Environment<'static>,
    brand: Brand,
    theme_css: String,
}

impl Templates {
    pub fn new(brand: Brand) -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|source| RenderError { name, source })?;
        }
        let theme_css =
            format!(":root {{ --accent: {}; --accent-contrast: {}; }}\n", brand.accent, contrast_for(&brand.accent));
        Ok(Self { env, brand, theme_css })
    }

    pub fn theme_css(&self) -> &str {
        &self.theme_css
    }

    pub fn render<P: Page>(&self, page: &P) -> Result<String, RenderError> {
        let name = P::TEMPLATE;
        let tmpl = self.env.get_template(name).map_err(|source| RenderError { name, source })?;
        tmpl.render(context! {
            brand => &self.brand,
            title => page.title(),
            lang => "en",
            ..Value::from_serialize(page)
        })
        .map_err(|source| RenderError { name, source })
    }
}

/// Black or white, whichever reads better on the accent colour (WCAG relative
/// luminance).
fn contrast_for(hex: &str) -> &'static str {
    let h = hex.trim_start_matches('#');
    let full: String = if h.len() == 3 { h.chars().flat_map(|c| [c, c]).collect() } else { h.to_string() };
    let channel = |i: usize| {
        let v = u8::from_str_radix(full.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as f64 / 255.0;
        if v <= 0.03928 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
    };
    let l = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    if l > 0.4 { "#111827" } else { "#ffffff" }
}

/// A page: its template and its title.
pub trait Page: Serialize {
    const TEMPLATE: &'static str;
    fn title(&self) -> String;
}

#[derive(Debug, Serialize, Default)]
pub struct LoginPage {
    pub csrf: String,
    pub request_id: Option<String>,
    /// A page on this server to come back to once signed in.
    pub next: Option<String>,
    pub username: Option<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub client_name: Option<String>,
    pub signup_url: String,
    pub github_url: Option<String>,
    /// prompt=select_account: the signed-in account, to go on with.
    pub continue_as: Option<UserLine>,
    /// A fresh sign-in of the signed-in account (prompt=login, max_age):
    /// who is asked to prove themselves again.
    pub reauth_as: Option<String>,
}
impl Page for LoginPage {
    const TEMPLATE: &'static str = "login.html";
    fn title(&self) -> String {
        "Sign in".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct SignupValues {
    pub username: Option<String>,
    pub email: Option<String>,
}

pub use crate::accounts::users::FieldErrors as SignupErrors;

#[derive(Debug, Serialize, Default)]
pub struct SignupPage {
    pub csrf: String,
    pub request_id: Option<String>,
    pub values: SignupValues,
    pub errors: SignupErrors,
    pub client_name: Option<String>,
    pub login_url: String,
    pub min_password: usize,
}
impl Page for SignupPage {
    const TEMPLATE: &'static str = "signup.html";
    fn title(&self) -> String {
        "Create an account".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize, Default)]
pub struct UserLine {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Default)]
pub struct ConsentPage {
    pub csrf: String,
    pub request_id: String,
    pub client_name: String,
    pub app: crate::oauth::consent::AppFacts,
    /// When the person first allowed the app, as text.
    pub allowed_since: Option<String>,
    pub scopes: Vec<ScopeLine>,
    pub user: UserLine,
    pub switch_url: String,
}
impl Page for ConsentPage {
    const TEMPLATE: &'static str = "consent.html";
    fn title(&self) -> String {
        format!("Allow {}?", self.client_name)
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ErrorPage {
    pub heading: String,
    pub message: String,
    pub code: Option<String>,
    pub back_url: Option<String>,
}
impl Page for ErrorPage {
    const TEMPLATE: &'static str = "error.html";
    fn title(&self) -> String {
        self.heading.clone()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct SignedOutPage {
    pub heading: String,
    pub message: String,
}
impl Page for SignedOutPage {
    const TEMPLATE: &'static str = "signed_out.html";
    fn title(&self) -> String {
        "Signed out".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct HiddenField {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize, Default)]
pub struct LogoutPage {
    pub csrf: String,
    pub client_name: Option<String>,
    pub hidden: Vec<HiddenField>,
    pub user: Option<UserLine>,
}
impl Page for LogoutPage {
    const TEMPLATE: &'static str = "logout.html";
    fn title(&self) -> String {
        "Sign out?".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct AccountPage {
    pub csrf: String,
    pub user: UserLine,
    pub session_count: i64,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub has_password: bool,
    /// GitHub sign-in is configured on this server.
    pub github_available: bool,
    /// The linked GitHub login, if any.
    pub github_login: Option<String>,
    /// Whether unlinking GitHub would leave a way to sign in.
    pub can_unlink: bool,
    /// The person's own recent security events, newest first.
    pub activity: Vec<ActivityLine>,
    pub mfa_enabled: bool,
    pub backup_codes_left: i64,
    pub apps: Vec<AppLine>,
    pub sessions: Vec<SessionLine>,
    pub is_admin: bool,
    pub email_verified: bool,
}

/// An app the person has allowed.
#[derive(Debug, Serialize, Default)]
pub struct AppLine {
    pub client_id: ClientId,
    pub name: String,
    pub scopes: Vec<String>,
    pub since: String,
}

#[derive(Debug, Serialize, Default)]
pub struct SessionLine {
    /// The session's id hash (never the cookie): names it in the form.
    pub id: String,
    pub device: String,
    pub ip: Option<String>,
    pub last_seen: When,
    pub current: bool,
}

/// A moment on a page: relative ("3 hours ago"), with the exact UTC time
/// on hover and for machines (`<time datetime title>`).
#[derive(Debug, Serialize, Default)]
pub struct When {
    pub text: String,
    pub exact: String,
    pub iso: String,
}

impl When {
    pub fn at(now: crate::clock::Timestamp, at: crate::clock::Timestamp) -> Self {
        let exact = crate::clock::utc_text(at);
        When { text: crate::clock::ago(now, at), iso: exact.replace(" UTC", "Z"), exact }
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ActivityLine {
    pub what: String,
    pub when: When,
    pub ip: Option<String>,
    /// A failure or refusal, shown in the error colour.
    pub alert: bool,
}

#[derive(Debug, Serialize, Default)]
pub struct AdminUserLine {
    pub id: String,
    pub username: String,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub is_me: bool,
}

#[derive(Debug, Serialize, Default)]
pub struct AdminApiLine {
    pub id: String,
    pub name: String,
    pub identifier: String,
    /// Registered by a person in the portal (not by an operator).
    pub owned: bool,
}

#[derive(Debug, Serialize, Default)]
pub struct AdminClientLine {
    pub id: ClientId,
    pub name: String,
    pub public: bool,
    /// Registered by a person in the portal (not by an operator).
    pub owned: bool,
    /// People see the "unverified app" notice for it.
    pub unverified: bool,
    /// Marked verified by an administrator.
    pub verified: bool,
    /// First-party: people are not asked to consent.
    pub first_party: bool,
}

#[derive(Debug, Serialize, Default)]
pub struct AdminPage {
    pub csrf: String,
    pub users: Vec<AdminUserLine>,
    pub clients: Vec<AdminClientLine>,
    pub apis: Vec<AdminApiLine>,
    pub notice: Option<String>,
    pub is_admin: bool,
}
impl Page for AdminPage {
    const TEMPLATE: &'static str = "admin.html";
    fn title(&self) -> String {
        "Administration".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct AppSummary {
    pub id: ClientId,
    pub name: String,
    pub type_label: String,
    pub created: String,
}

/// The developer portal's list of the person's apps.
#[derive(Debug, Serialize, Default)]
pub struct AppsPage {
    pub apps: Vec<AppSummary>,
    pub is_admin: bool,
    pub notice: Option<String>,
}
impl Page for AppsPage {
    const TEMPLATE: &'static str = "apps.html";
    fn title(&self) -> String {
        "Your apps".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct AppFormValues {
    pub name: String,
    pub homepage: String,
    pub logo_url: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub app_type: String,
    /// RFC 7591 `token_endpoint_auth_method` for apps with a secret.
    pub auth_method: String,
    /// One URI per line.
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    /// RFC 7591 `jwks` (pasted JSON) or `jwks_uri`.
    pub jwks: String,
    pub jwks_uri: String,
    /// RFC 9126 `require_pushed_authorization_requests`.
    pub require_par: bool,
    /// RFC 9449 `dpop_bound_access_tokens`.
    pub dpop: bool,
    /// Held to the FAPI 2.0 profile.
    pub fapi2: bool,
    /// RFC 9101 `require_signed_request_object`.
    pub signed_requests: bool,
    /// `token_endpoint_auth_signing_alg` and `request_object_signing_alg`
    /// ("" for any).
    pub auth_signing_alg: String,
    pub request_object_signing_alg: String,
    /// API identifiers, one per line: those it may ask tokens for (empty:
    /// any), and those it may exchange tokens for (set by admins).
    pub allowed_resources: String,
    pub exchange_targets: String,
    /// A machine app's API scopes, separated by spaces or lines.
    pub scopes: String,
}

#[derive(Debug, Serialize, Default)]
pub struct TypeOption {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// Registering an app, or editing one (`app_id` set).
#[derive(Debug, Serialize, Default)]
pub struct AppFormPage {
    pub csrf: String,
    pub app_id: Option<String>,
    /// Admins also set what an app may exchange tokens for.
    pub is_admin: bool,
    pub values: AppFormValues,
    pub types: Vec<TypeOption>,
    pub error: Option<String>,
}
impl Page for AppFormPage {
    const TEMPLATE: &'static str = "app_form.html";
    fn title(&self) -> String {
        if self.app_id.is_some() { "Edit app".into() } else { "Register an app".into() }
    }
}

#[derive(Debug, Serialize, Default)]
pub struct AppDetail {
    pub id: ClientId,
    pub name: String,
    pub type_label: String,
    pub public: bool,
    pub homepage: Option<String>,
    pub logo_url: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    /// Where its public keys come from: "registered JWK set (n keys)", the
    /// jwks_uri, or none.
    pub keys: Option<String>,
    /// The sender constraints in force, in words.
    pub requirements: Vec<String>,
    pub created: String,
    pub discovery_url: String,
    pub authorize_example: Option<String>,
    /// Until when the previous secret still works, after a rotation.
    pub old_secret_until: Option<String>,
    pub allowed_resources: Vec<String>,
    pub token_exchange_targets: Vec<String>,
    /// The API scopes it is registered with (a machine app's, mostly).
    pub api_scopes: Vec<String>,
}

#[derive(Debug, Serialize, Default)]
pub struct AppPage {
    pub csrf: String,
    pub app: AppDetail,
    /// A new secret, shown this once.
    pub secret: Option<String>,
    pub notice: Option<String>,
}
impl Page for AppPage {
    const TEMPLATE: &'static str = "app.html";
    fn title(&self) -> String {
        self.app.name.clone()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ApiSummary {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub created: String,
}

/// The developer portal's list of the person's APIs.
#[derive(Debug, Serialize, Default)]
pub struct ApisPage {
    pub apis: Vec<ApiSummary>,
    pub is_admin: bool,
    pub notice: Option<String>,
}
impl Page for ApisPage {
    const TEMPLATE: &'static str = "apis.html";
    fn title(&self) -> String {
        "Your APIs".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ApiFormValues {
    /// RFC 8707 resource indicator: an absolute URI.
    pub identifier: String,
    pub name: String,
    /// Separated by spaces or lines.
    pub scopes: String,
    /// Seconds; "" for the server's.
    pub token_ttl: String,
    /// "" for the server's.
    pub token_alg: String,
    /// The API's own client; "" for none.
    pub client_id: String,
}

/// An option of a select.
#[derive(Debug, Serialize, Default)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Registering an API, or editing one (`api_id` set).
#[derive(Debug, Serialize, Default)]
pub struct ApiFormPage {
    pub csrf: String,
    pub api_id: Option<String>,
    pub values: ApiFormValues,
    pub clients: Vec<Choice>,
    pub algs: Vec<Choice>,
    /// The server's access-token lifetime: an API's may be shorter.
    pub max_ttl: i64,
    pub error: Option<String>,
}
impl Page for ApiFormPage {
    const TEMPLATE: &'static str = "api_form.html";
    fn title(&self) -> String {
        if self.api_id.is_some() { "Edit API".into() } else { "Register an API".into() }
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ApiDetail {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// In words, with the server's default when it has none of its own.
    pub token_ttl: String,
    pub token_alg: String,
    pub client_id: Option<ClientId>,
    pub client_name: Option<String>,
    pub created: String,
    /// How apps ask for its tokens, and how it checks them.
    pub token_example: String,
    pub check_example: String,
    pub introspection_url: String,
}

#[derive(Debug, Serialize, Default)]
pub struct ApiPage {
    pub csrf: String,
    pub api: ApiDetail,
    pub notice: Option<String>,
}
impl Page for ApiPage {
    const TEMPLATE: &'static str = "api.html";
    fn title(&self) -> String {
        self.api.name.clone()
    }
}

/// A destructive action, said in words before it is done.
#[derive(Debug, Serialize, Default)]
pub struct ConfirmPage {
    pub csrf: String,
    pub heading: String,
    pub question: String,
    pub consequence: String,
    /// Where the confirming form posts.
    pub action: String,
    pub confirm_label: String,
    pub cancel_href: String,
    /// What the confirming form carries besides its CSRF token.
    pub fields: Vec<HiddenField>,
}
impl Page for ConfirmPage {
    const TEMPLATE: &'static str = "confirm.html";
    fn title(&self) -> String {
        self.heading.clone()
    }
}

/// The second step of a sign-in.
#[derive(Debug, Serialize, Default)]
pub struct MfaPage {
    pub csrf: String,
    pub step: String,
    pub error: Option<String>,
}
impl Page for MfaPage {
    const TEMPLATE: &'static str = "mfa.html";
    fn title(&self) -> String {
        "Two-step verification".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct MfaSetupPage {
    pub csrf: String,
    /// Rendered by us (`accounts::totp::qr_svg`): inserted unescaped.
    pub qr_svg: String,
    /// The secret in base32, in groups of four.
    pub secret: String,
    pub error: Option<String>,
}
impl Page for MfaSetupPage {
    const TEMPLATE: &'static str = "mfa_setup.html";
    fn title(&self) -> String {
        "Set up two-step verification".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct BackupCodesPage {
    pub codes: Vec<String>,
    /// The codes as a text file, one a line, for the download link.
    pub download: String,
}
impl Page for BackupCodesPage {
    const TEMPLATE: &'static str = "backup_codes.html";
    fn title(&self) -> String {
        "Your backup codes".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ForgotPage {
    pub csrf: String,
    /// The request was taken (whether or not the address has an account).
    pub sent: bool,
    pub error: Option<String>,
}
impl Page for ForgotPage {
    const TEMPLATE: &'static str = "forgot.html";
    fn title(&self) -> String {
        "Reset your password".into()
    }
}

#[derive(Debug, Serialize, Default)]
pub struct ResetPage {
    pub csrf: String,
    pub token: String,
    pub error: Option<String>,
    pub min_password: usize,
}
impl Page for ResetPage {
    const TEMPLATE: &'static str = "reset.html";
    fn title(&self) -> String {
        "Choose a new password".into()
    }
}

/// Proof of ownership: the password of the account that uses the email of
/// the GitHub account being linked.
#[derive(Debug, Serialize, Default)]
pub struct LinkGithubPage {
    pub csrf: String,
    pub proof: String,
    pub github_login: String,
    pub email: String,
    pub username: String,
    pub has_password: bool,
    pub error: Option<String>,
    pub cancel_url: String,
}
impl Page for LinkGithubPage {
    const TEMPLATE: &'static str = "link_github.html";
    fn title(&self) -> String {
        "Link your GitHub account".into()
    }
}
/// Entering a device's code (RFC 8628).
#[derive(Debug, Serialize, Default)]
pub struct DevicePage {
    pub csrf: String,
    /// Prefilled from `verification_uri_complete`, or as typed.
    pub user_code: String,
    pub error: Option<String>,
}
impl Page for DevicePage {
    const TEMPLATE: &'static str = "device.html";
    fn title(&self) -> String {
        "Connect a device".into()
    }
}

/// Confirming a device and what it may do.
#[derive(Debug, Serialize, Default)]
pub struct DeviceConfirmPage {
    pub csrf: String,
    /// The id of the held code the answer names.
    pub confirmation: String,
    /// XXXX-XXXX.
    pub user_code: String,
    pub client_name: String,
    pub scopes: Vec<ScopeLine>,
    pub user: UserLine,
}
impl Page for DeviceConfirmPage {
    const TEMPLATE: &'static str = "device_confirm.html";
    fn title(&self) -> String {
        format!("Sign in to {} on another device?", self.client_name)
    }
}

#[derive(Debug, Serialize, Default)]
pub struct DeviceDonePage {
    pub approved: bool,
}
impl Page for DeviceDonePage {
    const TEMPLATE: &'static str = "device_done.html";
    fn title(&self) -> String {
        if self.approved { "Your device is signed in".into() } else { "The device was not signed in".into() }
    }
}

impl Page for AccountPage {
    const TEMPLATE: &'static str = "account.html";
    fn title(&self) -> String {
        "Your account".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::new(Brand { name: "Acme ID".into(), logo_url: None, accent: "#0a7d3b".into() }).unwrap()
    }

    fn user() -> UserLine {
        UserLine { username: "ada".into(), email: Some("ada@example.com".into()), name: Some("Ada".into()) }
    }

    /// Strict undefined mode makes a misspelt variable an error, but only
    /// on the branch that reads it: each page renders with nothing set
    /// (every `if` false, every loop empty) here, and filled in below.
    #[test]
    fn every_template_renders_with_nothing_set() {
        fn empty<P: Page + Default>(t: &Templates) {
            if let Err(e) = t.render(&P::default()) {
                panic!("{}: {e:#}", P::TEMPLATE);
            }
        }
        let t = templates();
        empty::<LoginPage>(&t);
        empty::<SignupPage>(&t);
        empty::<ConsentPage>(&t);
        empty::<ErrorPage>(&t);
        empty::<SignedOutPage>(&t);
        empty::<LogoutPage>(&t);
        empty::<AccountPage>(&t);
        empty::<AdminPage>(&t);
        empty::<AppsPage>(&t);
        empty::<AppFormPage>(&t);
        empty::<AppPage>(&t);
        empty::<MfaPage>(&t);
        empty::<MfaSetupPage>(&t);
        empty::<BackupCodesPage>(&t);
        empty::<ForgotPage>(&t);
        empty::<ResetPage>(&t);
        empty::<LinkGithubPage>(&t);
        empty::<DevicePage>(&t);
        empty::<DeviceConfirmPage>(&t);
        empty::<DeviceDonePage>(&t);
        empty::<ApisPage>(&t);
        empty::<ApiFormPage>(&t);
        empty::<ApiPage>(&t);
        empty::<ConfirmPage>(&t);
        assert_eq!(TEMPLATES.len(), 24 + 2, "a new page is rendered here too (base and nav are partials)");
    }

    #[test]
    fn a_misspelt_variable_fails() {
        let mut t = templates();
        t.env.add_template("t", "{% if usr %}x{% endif %}{{ usr }}").unwrap();
        let tmpl = t.env.get_template("t").unwrap();
        assert!(tmpl.render(context! { user => "ada" }).is_err());
        assert!(tmpl.render(context! { usr => "ada" }).is_ok());
    }

    #[test]
    fn every_template_renders_and_escapes() {
        let t = templates();
        let evil = "<script>alert(1)</script>";
        let pages = [
            t.render(&LoginPage {
                csrf: "tok".into(),
                request_id: Some("req".into()),
                username: Some(evil.into()),
                error: Some("Wrong username or password.".into()),
                signup_url: "/signup".into(),
                ..Default::default()
            })
            .unwrap(),
            t.render(&SignupPage {
                csrf: "tok".into(),
                values: SignupValues { username: Some(evil.into()), email: None },
                errors: SignupErrors { password: Some("Too short".into()), ..Default::default() },
                login_url: "/login".into(),
                min_password: 8,
                ..Default::default()
            })
            .unwrap(),
            t.render(&ConsentPage {
                csrf: "tok".into(),
                request_id: "req".into(),
                client_name: evil.into(),
                app: crate::oauth::consent::AppFacts {
                    logo_url: Some("https://app.example/logo.png".into()),
                    homepage: Some(evil.into()),
                    policy_uri: Some(evil.into()),
                    tos_uri: Some(evil.into()),
                    owner: Some(evil.into()),
                    redirect_host: evil.into(),
                    unverified: true,
                    allowed_since: None,
                },
                allowed_since: Some(evil.into()),
                scopes: vec![ScopeLine { name: "email".into(), description: "See your email address".into() }],
                user: user(),
                switch_url: "/login?request=req&switch=1".into(),
            })
            .unwrap(),
            t.render(&ErrorPage {
                heading: "Oops".into(),
                message: evil.into(),
                code: Some("invalid_request".into()),
                back_url: None,
            })
            .unwrap(),
            t.render(&SignedOutPage { heading: "Signed out".into(), message: "Bye".into() }).unwrap(),
            t.render(&LogoutPage {
                csrf: "tok".into(),
                client_name: None,
                hidden: vec![HiddenField { name: "state".into(), value: evil.into() }],
                user: Some(user()),
            })
            .unwrap(),
            t.render(&AccountPage {
                csrf: "tok".into(),
                user: user(),
                session_count: 2,
                notice: None,
                error: Some(evil.into()),
                has_password: true,
                github_available: true,
                github_login: Some(evil.into()),
                can_unlink: true,
                mfa_enabled: true,
                backup_codes_left: 3,
                apps: vec![AppLine {
                    client_id: "c1".into(),
                    name: evil.into(),
                    scopes: vec!["See your email address".into()],
                    since: "2026-11-22 23:10 UTC".into(),
                }],
                is_admin: false,
                email_verified: false,
                sessions: vec![SessionLine {
                    id: "h".into(),
                    device: evil.into(),
                    ip: None,
                    last_seen: When::at(1_764_547_200, 1_764_540_000),
                    current: true,
                }],
                activity: vec![ActivityLine {
                    what: "Signed in".into(),
                    when: When::at(1_764_547_200, 1_764_540_000),
                    ip: Some(evil.into()),
                    alert: false,
                }],
            })
            .unwrap(),
            t.render(&AdminPage {
                csrf: "tok".into(),
                users: vec![AdminUserLine {
                    id: "u".into(),
                    username: evil.into(),
                    email: evil.into(),
                    role: "admin".into(),
                    disabled: false,
                    is_me: false,
                }],
                clients: vec![AdminClientLine {
                    id: "c".into(),
                    name: evil.into(),
                    public: true,
                    owned: true,
                    unverified: true,
                    ..Default::default()
                }],
                apis: vec![AdminApiLine { id: "a".into(), name: evil.into(), identifier: evil.into(), owned: true }],
                notice: None,
                is_admin: true,
            })
            .unwrap(),
            t.render(&AppsPage {
                apps: vec![AppSummary {
                    id: "c1".into(),
                    name: evil.into(),
                    type_label: "Web app".into(),
                    created: "2026-11-22 23:10 UTC".into(),
                }],
                is_admin: true,
                notice: None,
            })
            .unwrap(),
            t.render(&AppFormPage {
                csrf: "tok".into(),
                app_id: None,
                is_admin: true,
                values: AppFormValues {
                    name: evil.into(),
                    redirect_uris: evil.into(),
                    jwks: evil.into(),
                    jwks_uri: evil.into(),
                    require_par: true,
                    dpop: true,
                    fapi2: true,
                    allowed_resources: evil.into(),
                    exchange_targets: evil.into(),
                    scopes: evil.into(),
                    app_type: "machine".into(),
                    ..Default::default()
                },
                types: vec![TypeOption { value: "web".into(), label: "Web".into(), checked: true }],
                error: Some(evil.into()),
            })
            .unwrap(),
            t.render(&AppPage {
                csrf: "tok".into(),
                app: AppDetail {
                    id: "c1".into(),
                    name: evil.into(),
                    type_label: "Web".into(),
                    public: false,
                    homepage: Some(evil.into()),
                    logo_url: None,
                    redirect_uris: vec![evil.into()],
                    post_logout_redirect_uris: vec![],
                    grant_types: vec!["authorization_code".into()],
                    token_endpoint_auth_method: evil.into(),
                    keys: Some(evil.into()),
                    requirements: vec![evil.into()],
                    created: "2026-11-22 23:10 UTC".into(),
                    discovery_url: "http://127.0.0.1:8080/.well-known/openid-configuration".into(),
                    authorize_example: Some(evil.into()),
                    old_secret_until: Some("2026-11-23 23:10 UTC".into()),
                    allowed_resources: vec![evil.into()],
                    token_exchange_targets: vec![evil.into()],
                    api_scopes: vec![evil.into()],
                },
                secret: Some("s3cret".into()),
                notice: Some(evil.into()),
            })
            .unwrap(),
            t.render(&MfaPage { csrf: "tok".into(), step: evil.into(), error: Some(evil.into()) }).unwrap(),
            t.render(&MfaSetupPage {
                csrf: "tok".into(),
                qr_svg: crate::accounts::totp::qr_svg("otpauth://totp/Acme:ada?secret=ABC"),
                secret: "ABCD EFGH".into(),
                error: None,
            })
            .unwrap(),
            t.render(&BackupCodesPage { codes: vec![evil.into()], download: evil.into() }).unwrap(),
            t.render(&ForgotPage { csrf: "tok".into(), sent: false, error: Some(evil.into()) }).unwrap(),
            t.render(&ResetPage { csrf: "tok".into(), token: evil.into(), error: None, min_password: 8 }).unwrap(),
            t.render(&LinkGithubPage {
                csrf: "tok".into(),
                proof: "p".into(),
                github_login: evil.into(),
                email: "ada@example.com".into(),
                username: "ada".into(),
                has_password: true,
                error: Some("That password is not correct.".into()),
                cancel_url: "/login".into(),
            })
            .unwrap(),
            t.render(&ApisPage {
                apis: vec![ApiSummary {
                    id: "a1".into(),
                    name: evil.into(),
                    identifier: evil.into(),
                    created: "2026-11-22 23:10 UTC".into(),
                }],
                is_admin: false,
                notice: Some(evil.into()),
            })
            .unwrap(),
            t.render(&ApiFormPage {
                csrf: "tok".into(),
                api_id: None,
                values: ApiFormValues {
                    identifier: evil.into(),
                    name: evil.into(),
                    scopes: evil.into(),
                    token_ttl: evil.into(),
                    token_alg: evil.into(),
                    client_id: evil.into(),
                },
                clients: vec![Choice { value: evil.into(), label: evil.into(), selected: true }],
                algs: vec![Choice { value: "".into(), label: evil.into(), selected: true }],
                max_ttl: 900,
                error: Some(evil.into()),
            })
            .unwrap(),
            t.render(&ApiPage {
                csrf: "tok".into(),
                api: ApiDetail {
                    id: "a1".into(),
                    identifier: evil.into(),
                    name: evil.into(),
                    scopes: vec![evil.into()],
                    token_ttl: evil.into(),
                    token_alg: evil.into(),
                    client_id: Some("c1".into()),
                    client_name: Some(evil.into()),
                    created: "2026-11-22 23:10 UTC".into(),
                    token_example: evil.into(),
                    check_example: evil.into(),
                    introspection_url: evil.into(),
                },
                notice: Some(evil.into()),
            })
            .unwrap(),
            t.render(&ConfirmPage {
                csrf: "tok".into(),
                heading: evil.into(),
                question: evil.into(),
                consequence: evil.into(),
                action: "/x".into(),
                confirm_label: evil.into(),
                cancel_href: "/y".into(),
                fields: vec![HiddenField { name: "client_id".into(), value: evil.into() }],
            })
            .unwrap(),
        ];
        for html in &pages {
            assert!(html.contains("Acme ID"), "brand missing");
            assert!(!html.contains(evil), "unescaped input in {html}");
            // The one same-origin script file, never inline script.
            let without_copy = html.replace(r#"<script src="/static/copy.js" defer></script>"#, "");
            assert!(!without_copy.contains("<script"), "script tag in page");
            assert!(!html.contains("style=\""), "inline style in page");
        }
        assert!(pages[0].contains("name=\"csrf\""));
        // Page sections belong to the content, never to the card header.
        for html in &pages {
            let header_end = html.find("</header>").unwrap_or(0);
            assert!(!html[..header_end].contains("<section"), "a section inside the header");
        }
        assert!(pages[1].contains("Too short"));
        assert!(pages[2].contains("See your email address"));
    }

    #[test]
    fn theme_uses_readable_contrast() {
        assert_eq!(contrast_for("#ffffff"), "#111827");
        assert_eq!(contrast_for("#4f46e5"), "#ffffff");
        assert!(templates().theme_css().contains("--accent: #0a7d3b"));
    }
}
