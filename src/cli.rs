//! The command line: `latchkey serve` and the operator commands. Scripts drive
//! these, so spellings and `--json` output are kept stable.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::audit;
use serde_json::json;

use crate::accounts::password::PasswordHasherPool;
use crate::accounts::users::{self, AccountError, NewAccount};
use crate::app::{self, App};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::Config;
use crate::keys;
use crate::oauth::clients::{self, ClientSpec};
use crate::store::{ClientId, Role, Store, User};

#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about = "An OAuth 2.0 / OpenID Connect provider")]
pub struct Cli {
    /// A TOML config file (also LATCHKEY_CONFIG). Environment variables win.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Registered APIs (resource servers).
    #[command(subcommand)]
    Apis(ApisCommand),
    /// User accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApisCommand {
    /// Register an API: tokens asked for with `resource=IDENTIFIER` are
    /// meant for it alone (RFC 8707).
    Create {
        /// Its identifier: an absolute URI without fragment, the tokens' `aud`.
        #[arg(long, value_name = "URI")]
        identifier: String,
        #[arg(long)]
        name: String,
        /// A scope it defines (repeat, or space separated).
        #[arg(long = "scope", value_name = "S", required = true)]
        scopes: Vec<String>,
        /// Lifetime of its access tokens, seconds (at most the server's).
        #[arg(long, value_name = "SECONDS")]
        token_ttl: Option<i64>,
        /// Their signing algorithm: RS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        token_alg: Option<String>,
        /// The API's own client (to introspect its tokens, and to exchange
        /// them).
        #[arg(long, value_name = "CLIENT_ID", allow_hyphen_values = true)]
        client: Option<ClientId>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        identifier: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an API: tokens already issued for it live out their lifetime.
    Delete {
        identifier: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Security events, newest first.
    List {
        /// Only this user's events (id, username or email).
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Schedule a new key for each algorithm: published at once, signing
    /// after LATCHKEY_KEY_ACTIVATION_DELAY (so every verifier has it first);
    /// the keys it replaces stay published until their tokens expire.
    Rotate {
        /// Sign with the new key at once (after a compromise): relying
        /// parties holding a cached JWKS refuse new tokens until they refetch.
        #[arg(long)]
        now: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a key from signing and from the JWKS at once: tokens it
    /// signed stop verifying. For a compromised key; rotate first.
    Remove {
        /// Key ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a new RSA private key as PKCS#8 PEM (mode 0600), e.g. to import.
    Generate {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its id and (for confidential clients) the
    /// secret, once.
    Create(Box<CreateClient>),
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        /// Client ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: ClientId,
        #[arg(long)]
        json: bool,
    },
    Delete {
        /// Client ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: ClientId,
        #[arg(long)]
        json: bool,
    },
    /// Mint a single-use initial access token for dynamic client
    /// registration (RFC 7591) while registration is closed.
    InitialToken {
        /// How long it stays valid, seconds.
        #[arg(long, default_value_t = 86400)]
        ttl: i64,
        #[arg(long)]
        json: bool,
    },
}

/// A user named by id, username or email.
#[derive(Debug, Args)]
pub struct NamedUser {
    user: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CreateClient {
    #[arg(long)]
    pub name: String,
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (SPA, native app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    #[arg(long = "grant-type", value_name = "G")]
    pub grant_types: Vec<String>,
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// A first-party client: people are not asked to consent.
    #[arg(long)]
    pub skip_consent: bool,
    /// `web`, `spa`, `native`, `machine` or `device` (a TV or command-line
    /// tool: the device flow, no secret): sets the client type and grant
    /// types as the developer portal does. Only a native app's loopback
    /// redirect URIs may use any port (RFC 8252 §7.3).
    #[arg(long, value_name = "TYPE")]
    pub app_type: Option<String>,
    /// RFC 7591 token_endpoint_auth_method: client_secret_basic (default for
    /// confidential clients), client_secret_post, client_secret_jwt,
    /// private_key_jwt (needs --jwks-file or --jwks-uri), or none (public
    /// clients).
    #[arg(long, alias = "auth-method", value_name = "METHOD")]
    pub token_endpoint_auth_method: Option<String>,
    /// The client's public keys, a JWK set in a file (RFC 7591 `jwks`).
    #[arg(long, value_name = "PATH")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// Where the client's public keys are fetched from (RFC 7591 `jwks_uri`).
    #[arg(long, value_name = "URI")]
    pub jwks_uri: Option<String>,
    /// The one algorithm of its client assertions
    /// (token_endpoint_auth_signing_alg).
    #[arg(long, value_name = "ALG")]
    pub auth_signing_alg: Option<String>,
    /// The one algorithm of its request objects (request_object_signing_alg).
    #[arg(long, value_name = "ALG")]
    pub request_object_signing_alg: Option<String>,
    /// Every authorization request must be a signed request object (RFC 9101).
    #[arg(long)]
    pub require_signed_request_object: bool,
    /// Every authorization request must be pushed first (RFC 9126).
    #[arg(long)]
    pub require_par: bool,
    /// Every token request must carry a DPoP proof (RFC 9449).
    #[arg(long)]
    pub dpop: bool,
    /// A security profile: `fapi2` (PAR, PKCE S256, private_key_jwt, DPoP).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// An API it may ask tokens for (repeat); none given: any registered API.
    #[arg(long = "resource", value_name = "URI")]
    pub resources: Vec<String>,
    /// An API it may exchange a person's token for (RFC 8693; repeat).
    #[arg(long = "exchange-target", value_name = "URI")]
    pub exchange_targets: Vec<String>,
    /// Shown on the consent page (https): the app's homepage (`client_uri`),
    /// logo (`logo_uri`), privacy policy (`policy_uri`) and terms (`tos_uri`).
    #[arg(long = "client-uri", value_name = "URL")]
    pub client_uri: Option<String>,
    #[arg(long = "logo-uri", value_name = "URL")]
    pub logo_uri: Option<String>,
    #[arg(long = "policy-uri", value_name = "URL")]
    pub policy_uri: Option<String>,
    #[arg(long = "tos-uri", value_name = "URL")]
    pub tos_uri: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account. With --password-stdin the password is read from
    /// standard input; without, the account has no password yet.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its sessions and grants end at once. The user
    /// is named by id, username or email.
    Disable(NamedUser),
    /// Enable a disabled account again (its old tokens stay ended).
    Enable(NamedUser),
    /// Set a user's role (`user` or `admin`); the user is named by id,
    /// username or email.
    SetRole {
        user: String,
        role: String,
        #[arg(long)]
        json: bool,
    },
}

/// An error for the operator: printed, then a non-zero exit.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

type CliResult = Result<(), CliError>;

pub async fn run(cli: Cli, config: Config) -> CliResult {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, clock).await,
        Command::Migrate => {
            let store = app::open_store(&config).await?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::Keys(cmd) => keys_cmd(cmd, config, clock).await,
        Command::Clients(cmd) => clients_cmd(cmd, config, clock).await,
        Command::Apis(cmd) => apis_cmd(cmd, config, clock).await,
        Command::Users(cmd) => users_cmd(cmd, config, clock).await,
        Command::Audit(cmd) => audit_cmd(cmd, config).await,
    }
}

/// A user named by id, username or email.
async fn find_user(store: &dyn Store, name: &str) -> Result<Option<User>, CliError> {
    Ok(match store.get_user(name).await? {
        Some(u) => Some(u),
        None => store.find_user_by_login(name).await?,
    })
}

async fn audit_cmd(cmd: AuditCommand, config: Config) -> CliResult {
    let AuditCommand::List { user, limit, json } = cmd;
    if !(1..=10_000).contains(&limit) {
        return Err(CliError("--limit must be between 1 and 10000".into()));
    }
    let store = app::open_store(&config).await?;
    let user_id = match &user {
        Some(u) => Some(find_user(&*store, u).await?.ok_or_else(|| CliError(format!("no user `{u}`")))?.id),
        None => None,
    };
    let events = store.list_audit(user_id.as_deref(), limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&events)?);
    } else {
        for e in &events {
            println!(
                "{}  {:<28} {:<8} user={} client={} ip={} {}",
                e.at,
                e.event,
                e.outcome,
                e.user_id.as_deref().unwrap_or("-"),
                e.client_id.as_deref().unwrap_or("-"),
                e.ip.as_deref().unwrap_or("-"),
                e.detail.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

async fn serve(config: Config, clock: Arc<dyn Clock>) -> CliResult {
    let listen = config.listen;
    let issuer = config.issuer.clone();
    let app = App::build(config, clock).await?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| CliError(format!("cannot listen on {listen}: {e}")))?;
    tracing::info!(
        %issuer,
        listen = %listen,
        database = app.state.store.backend(),
        state = app.state.ephemeral.backend(),
        kid = %app.state.keys.active_kid(),
        email = %app.state.mailer.describe(),
        "latchkey is ready"
    );
    app.serve(listener, app::shutdown_signal()).await?;
    Ok(())
}

async fn keys_cmd(cmd: KeysCommand, config: Config, clock: Arc<dyn Clock>) -> CliResult {
    match cmd {
        KeysCommand::Generate { out } => {
            let key = keys::generate(clock.now())?;
            keys::write_private_file(&out, &keys::to_pem(&key))
                .map_err(|e| CliError(format!("cannot write {}: {e}", out.display())))?;
            println!("wrote {} (kid {})", out.display(), key.kid);
            Ok(())
        }
        KeysCommand::List { json } => {
            let store = app::open_store(&config).await?;
            let list = store.list_keys().await?;
            let now = clock.now();
            let rows: Vec<_> = list
                .iter()
                .map(|k| {
                    json!({
                        "kid": k.kid, "alg": k.alg, "created_at": k.created_at,
                        "activates_at": k.activates_at, "retired_at": k.retired_at,
                        "state": keys::key_state(k, now),
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for k in &list {
                    let when = match keys::key_state(k, now) {
                        "pending" => format!("signs from {}", crate::clock::utc_text(k.activates_at)),
                        "retired" => format!("retired {}", crate::clock::utc_text(k.retired_at.unwrap_or(0))),
                        _ => match k.retired_at {
                            Some(at) => format!("signing until {}", crate::clock::utc_text(at)),
                            None => "signing".into(),
                        },
                    };
                    println!("{}  {:<6} {:<8} {}", k.kid, k.alg, keys::key_state(k, now), when);
                }
            }
            Ok(())
        }
        KeysCommand::Rotate { now: at_once, json } => {
            let store = app::open_store(&config).await?;
            let delay = if at_once { 0 } else { config.key_activation_delay };
            let rotated = keys::rotate(&*store, clock.now(), delay).await?;
            if json {
                let rows: Vec<_> = rotated
                    .iter()
                    .map(|k| json!({ "kid": k.kid, "alg": k.alg, "created_at": k.created_at, "activates_at": k.activates_at }))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for k in &rotated {
                    println!(
                        "new {} key {}: published now, signing from {}",
                        k.alg,
                        k.kid,
                        crate::clock::utc_text(k.activates_at)
                    );
                }
                println!("running instances publish the new keys within a second");
            }
            Ok(())
        }
        KeysCommand::Remove { kid, json } => {
            let store = app::open_store(&config).await?;
            if !keys::remove(&*store, &kid, clock.now()).await? {
                return Err(CliError(format!("no key `{kid}`")));
            }
            report(json, json!({ "removed": kid }), || {
                format!("removed key {kid}; running instances drop it within a second")
            })
        }
    }
}

async fn clients_cmd(cmd: ClientsCommand, config: Config, clock: Arc<dyn Clock>) -> CliResult {
    let store = app::open_store(&config).await?;
    match cmd {
        ClientsCommand::InitialToken { ttl, json } => {
            if !(60..=30 * 86400).contains(&ttl) {
                return Err(CliError("--ttl must be between 60 and 2592000 seconds".into()));
            }
            let token = crate::crypto::random_token(32);
            let now = clock.now();
            store.insert_initial_access_token(&crate::crypto::token_hash(&token), now, now + ttl).await?;
            report(json, json!({ "initial_access_token": token, "expires_at": now + ttl }), || {
                format!(
                    "initial access token: {token}\n(single use, valid {ttl} s; send it as Authorization: Bearer to /register)"
                )
            })
        }
        ClientsCommand::Create(c) => {
            let new = clients::build(
                ClientSpec {
                    name: c.name,
                    redirect_uris: c.redirect_uris,
                    post_logout_redirect_uris: c.post_logout_redirect_uris,
                    public: c.public,
                    grant_types: c.grant_types,
                    scopes: c.scopes,
                    skip_consent: c.skip_consent,
                    app_type: c.app_type,
                    token_endpoint_auth_method: c.token_endpoint_auth_method,
                    jwks: match &c.jwks_file {
                        Some(path) => Some(
                            std::fs::read_to_string(path)
                                .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?,
                        ),
                        None => None,
                    },
                    jwks_uri: c.jwks_uri,
                    token_endpoint_auth_signing_alg: c.auth_signing_alg,
                    request_object_signing_alg: c.request_object_signing_alg,
                    require_signed_request_object: c.require_signed_request_object,
                    require_pushed_authorization_requests: c.require_par,
                    dpop_bound_access_tokens: c.dpop,
                    security_profile: c.profile,
                    allowed_resources: c.resources,
                    token_exchange_targets: c.exchange_targets,
                    homepage: c.client_uri,
                    logo_url: c.logo_uri,
                    policy_uri: c.policy_uri,
                    tos_uri: c.tos_uri,
                    ..Default::default()
                },
                clock.now(),
            )
            .map_err(CliError)?;
            let targets = [&new.client.allowed_resources[..], &new.client.token_exchange_targets[..]].concat();
            if let Some(why) = crate::oauth::apis::unregistered(&*store, &targets).await? {
                return Err(CliError(format!("{why}: register it first with `latchkey apis create`")));
            }
            // Only a client_secret_jwt secret is kept sealed; other clients
            // need no at-rest key (and none is created for them).
            let key = match new.client.token_endpoint_auth_method.as_str() {
                "client_secret_jwt" => app::at_rest_key(&config)?,
                _ => crate::crypto::Secret::new(String::new()),
            };
            clients::create(&*store, &key, &new, audit::Actor::cli(), clock.now()).await?;
            if c.json {
                println!("{}", json!({ "client_id": new.client.id, "client_secret": new.secret }));
            } else {
                println!("client_id:     {}", new.client.id);
                match &new.secret {
                    Some(s) => println!("client_secret: {s}\n(the secret is shown once; store it now)"),
                    None if new.client.grant_types.iter().any(|g| g == clients::GRANT_AUTHORIZATION_CODE) => {
                        println!("public client: no secret; PKCE (S256) is required")
                    }
                    None => println!("public client: no secret"),
                }
            }
            Ok(())
        }
        ClientsCommand::List { json } => {
            let list = store.list_clients().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for c in &list {
                    let kind = if c.public { "public" } else { "confidential" };
                    println!("{}  {}  {}  {}", c.id, kind, c.name, c.redirect_uris.join(" "));
                }
            }
            Ok(())
        }
        ClientsCommand::Show { id, json } => {
            let c = store.get_client(&id).await?.ok_or_else(|| CliError(format!("no client `{id}`")))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                println!("client_id:                 {}", c.id);
                println!("name:                      {}", c.name);
                println!("type:                      {}", if c.public { "public" } else { "confidential" });
                println!("redirect_uris:             {}", c.redirect_uris.join(" "));
                println!("post_logout_redirect_uris: {}", c.post_logout_redirect_uris.join(" "));
                println!("grant_types:               {}", c.grant_types.join(" "));
                println!("scopes:                    {}", c.scopes.join(" "));
                println!("skip_consent:              {}", c.skip_consent);
                println!("token_endpoint_auth_method: {}", c.token_endpoint_auth_method);
                println!("app_type:                  {}", c.app_type.as_deref().unwrap_or("-"));
                println!("allowed_resources:         {}", or_any(&c.allowed_resources));
                println!("token_exchange_targets:    {}", c.token_exchange_targets.join(" "));
            }
            Ok(())
        }
        ClientsCommand::Delete { id, json } => {
            // Its grants end with it, on every running instance within a
            // second (they read the change feed).
            let Some(grants) = clients::delete(&*store, &id, audit::Actor::cli(), clock.now()).await? else {
                return Err(CliError(format!("no client `{id}`")));
            };
            report(json, json!({ "deleted": id, "grants_revoked": grants }), || {
                format!("deleted client {id} ({grants} grants revoked)")
            })
        }
    }
}

/// An allow-list for a line: empty means no limit.
fn or_any(list: &[String]) -> String {
    if list.is_empty() { "(any registered API)".into() } else { list.join(" ") }
}

async fn apis_cmd(cmd: ApisCommand, config: Config, clock: Arc<dyn Clock>) -> CliResult {
    let store = app::open_store(&config).await?;
    let find = |identifier: &str| {
        let store = store.clone();
        let identifier = identifier.to_string();
        async move {
            crate::oauth::apis::find(&*store, &identifier)
                .await?
                .ok_or_else(|| CliError(format!("no API `{identifier}`")))
        }
    };
    match cmd {
        ApisCommand::Create { identifier, name, scopes, token_ttl, token_alg, client, json } => {
            if let Some(id) = &client {
                let own = store.get_client(id).await?.ok_or_else(|| CliError(format!("no client `{id}`")))?;
                crate::oauth::apis::check_own_client(&own).map_err(CliError)?;
            }
            let spec = crate::oauth::apis::ApiSpec {
                identifier,
                name,
                scopes,
                access_token_ttl: token_ttl,
                access_token_alg: token_alg,
                owner_id: None,
                client_id: client,
            };
            let api = crate::oauth::apis::build(spec, &config, clock.now()).map_err(CliError)?;
            crate::oauth::apis::create(&*store, &api, audit::Actor::cli(), clock.now()).await?;
            report(json, json!({ "identifier": api.identifier, "scopes": api.scopes }), || {
                format!("registered API {} ({})", api.identifier, api.scopes.join(" "))
            })
        }
        ApisCommand::List { json } => {
            let apis = store.list_apis().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&*apis)?);
            } else {
                for a in apis.iter() {
                    println!("{}  {}  {}", a.identifier, a.name, a.scopes.join(" "));
                }
            }
            Ok(())
        }
        ApisCommand::Show { identifier, json } => {
            let api = find(&identifier).await?;
            report(json, serde_json::to_value(&api)?, || {
                format!(
                    "identifier: {}\nname:       {}\nscopes:     {}\ntoken ttl:  {}\ntoken alg:  {}\nclient:     {}",
                    api.identifier,
                    api.name,
                    api.scopes.join(" "),
                    api.access_token_ttl.map_or("the server's".into(), |t| format!("{t} s")),
                    api.access_token_alg.as_deref().unwrap_or("the server's"),
                    api.client_id.as_ref().map_or("none", |c| c.as_str()),
                )
            })
        }
        ApisCommand::Delete { identifier, json } => {
            let api = find(&identifier).await?;
            crate::oauth::apis::delete(&*store, &api, audit::Actor::cli(), clock.now()).await?;
            report(json, json!({ "deleted": api.identifier }), || format!("deleted API {}", api.identifier))
        }
    }
}

async fn users_cmd(cmd: UsersCommand, config: Config, clock: Arc<dyn Clock>) -> CliResult {
    let store = app::open_store(&config).await?;
    match cmd {
        UsersCommand::Create { username, email, name, password_stdin, json } => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let hasher = PasswordHasherPool::new(config.argon2, 1)?;
            let input =
                NewAccount { username: &username, email: &email, password: password.as_deref(), name: name.as_deref() };
            let user = match users::create_account(&*store, &hasher, input, clock.now()).await {
                Ok(u) => u,
                Err(AccountError::Invalid(errors)) => {
                    let msgs: Vec<String> = [
                        ("username", errors.username),
                        ("email", errors.email),
                        ("password", errors.password),
                        ("error", errors.form),
                    ]
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| format!("{k}: {v}")))
                    .collect();
                    return Err(CliError(msgs.join("\n")));
                }
                Err(e) => return Err(e.into()),
            };
            report(json, json!({ "id": user.id, "username": user.username, "email": user.email }), || {
                format!("created user {} ({})", user.username, user.id)
            })
        }
        UsersCommand::List { json } => {
            let list = store.list_users().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for u in &list {
                    println!("{}  {}  {}  {}", u.id, u.username, u.email, u.role);
                }
            }
            Ok(())
        }
        UsersCommand::SetRole { user, role, json } => {
            let role = Role::parse(&role).ok_or_else(|| {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                CliError(format!("unknown role `{role}` (expected one of: {})", all.join(", ")))
            })?;
            let u = find_user(&*store, &user).await?.ok_or_else(|| CliError(format!("no user `{user}`")))?;
            store.set_user_role(&u.id, role, clock.now()).await?;
            report(json, json!({ "id": u.id, "username": u.username, "role": role }), || {
                format!("{} is now {role}", u.username)
            })
        }
        UsersCommand::Disable(named) => set_disabled(&*store, named, true, clock.now()).await,
        UsersCommand::Enable(named) => set_disabled(&*store, named, false, clock.now()).await,
    }
}

async fn set_disabled(
    store: &dyn Store, NamedUser { user, json }: NamedUser, disable: bool, now: Timestamp,
) -> CliResult {
    let u = find_user(store, &user).await?.ok_or_else(|| CliError(format!("no user `{user}`")))?;
    // The same rule as the admin page: disabling ends every session
    // and grant, on every instance within a second.
    users::set_disabled(store, &u.id, disable, audit::Actor::cli(), now).await?;
    report(json, json!({ "id": u.id, "username": u.username, "disabled": disable }), || {
        if disable {
            format!("{} is disabled: every session and token has ended", u.username)
        } else {
            format!("{} is enabled again", u.username)
        }
    })
}

/// Prints what a command did: one line of JSON for scripts (`--json`), or a
/// sentence for people.
fn report(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> CliResult {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_may_start_with_a_dash() {
        // Generated ids are base64url: about one in 64 starts with `-`.
        for args in [
            vec!["latchkey", "clients", "show", "-Cx4"],
            vec!["latchkey", "clients", "delete", "-Cx4", "--json"],
            vec!["latchkey", "keys", "remove", "-k1"],
            vec!["latchkey", "apis", "create", "--identifier", "https://a.example", "--name", "A", "--scope", "a:r"],
            vec![
                "latchkey",
                "apis",
                "create",
                "--identifier",
                "https://a.example",
                "--name",
                "A",
                "--scope",
                "a",
                "--client",
                "-Cx4",
            ],
        ] {
            Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
}
