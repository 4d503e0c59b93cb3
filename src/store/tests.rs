//! The store conformance suite: every test runs on SQLite, and on PostgreSQL
//! when TEST_DATABASE_URL is set (required when LATCHKEY_REQUIRE_BACKENDS=1).

use super::*;
use crate::crypto::random_token;

/// The stores to test, and the folder holding the SQLite file (removed when
/// dropped).
/// Where a test's databases live: a SQLite file in a temporary directory,
/// and a PostgreSQL schema of its own (tests run concurrently, and the
/// change feed must see only this test's writes).
struct Place {
    dir: tempfile::TempDir,
    pg_url: Option<String>,
}

async fn backends() -> (Vec<SqlStore>, Place) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/test.db", dir.path().display());
    let sqlite = SqlStore::connect(&url).await.unwrap();
    sqlite.migrate().await.unwrap();
    let mut out = vec![sqlite];
    let pg_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let url = fresh_schema(&url).await;
            let pg = SqlStore::connect(&url).await.expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
            pg.migrate().await.unwrap();
            out.push(pg);
            Some(url)
        }
        _ => {
            assert!(
                std::env::var("LATCHKEY_REQUIRE_BACKENDS").is_err(),
                "LATCHKEY_REQUIRE_BACKENDS is set but TEST_DATABASE_URL is not"
            );
            None
        }
    };
    (out, Place { dir, pg_url })
}

/// A new schema named as the integration tests name theirs (`lk_<unix
/// seconds>_<random>`), so their sweep of old schemas drops it too.
async fn fresh_schema(url: &str) -> String {
    use sqlx::Connection;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let schema = format!("lk_{now}_{}", fresh_tag().replace(['-', '_'], "x"));
    let mut conn = sqlx::PgConnection::connect(url).await.expect("PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options[search_path]={schema}")
}

fn user(tag: &str) -> User {
    User {
        id: uuid::Uuid::new_v4().to_string(),
        username: format!("u{tag}"),
        email: format!("{tag}@example.com"),
        email_verified: false,
        name: Some("Ada".into()),
        picture: None,
        password_hash: Some("$argon2id$x".into()),
        role: Role::User,
        disabled: false,
        created_at: 10,
        updated_at: 10,
    }
}

fn client(tag: &str) -> Client {
    Client {
        id: format!("c{tag}").into(),
        secret_hash: Some("abc".into()),
        name: "App".into(),
        redirect_uris: vec![format!("https://{tag}.example/cb"), "http://127.0.0.1/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into()],
        public: false,
        skip_consent: true,
        created_at: 5,
        owner_id: None,
        app_type: None,
        homepage: None,
        logo_url: None,
        old_secret_hash: None,
        old_secret_expires_at: None,
        registration_token_hash: None,
        token_endpoint_auth_method: "client_secret_basic".into(),
        jwks: Some(r#"{"keys":[]}"#.into()),
        jwks_uri: None,
        token_endpoint_auth_signing_alg: Some("ES256".into()),
        request_object_signing_alg: None,
        require_signed_request_object: true,
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: true,
        security_profile: Some("fapi2".into()),
        secret_sealed: Some(vec![1, 2, 3]),
        old_secret_sealed: None,
        allowed_resources: vec!["https://api.example/photos".into()],
        policy_uri: Some("https://app.example/privacy".into()),
        tos_uri: None,
        verified: true,
        token_exchange_targets: vec![],
    }
}

#[tokio::test]
async fn users_round_trip_and_conflict() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let tag = fresh_tag();
        let u = user(&tag);
        store.create_user(&u).await.unwrap();
        assert_eq!(store.get_user(&u.id).await.unwrap().as_ref(), Some(&u), "{}", store.backend());
        assert_eq!(
            store.find_user_by_login(&u.username.to_uppercase()).await.unwrap().map(|x| x.id),
            Some(u.id.clone())
        );
        assert_eq!(store.find_user_by_login(&u.email).await.unwrap().map(|x| x.id), Some(u.id.clone()));
        let mut dup = user(&tag);
        dup.email = format!("other-{tag}@example.com");
        assert!(matches!(store.create_user(&dup).await, Err(StoreError::Conflict(_))), "{}", store.backend());
        assert!(store.set_user_role(&u.id, Role::Admin, 20).await.unwrap());
        store.set_password_hash(&u.id, "$argon2id$y", 21).await.unwrap();
        let again = store.get_user(&u.id).await.unwrap().unwrap();
        assert_eq!(
            (again.role.as_str(), again.password_hash.as_deref(), again.updated_at),
            ("admin", Some("$argon2id$y"), 21)
        );
        assert!(store.list_users().await.unwrap().iter().any(|x| x.id == u.id));
    }
}

#[tokio::test]
async fn clients_and_origins() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let tag = fresh_tag();
        let c = client(&tag);
        store.create_client(&c).await.unwrap();
        assert_eq!(store.get_client(&c.id).await.unwrap(), Some(c.clone()));
        assert!(store.origin_allowed(&format!("https://{tag}.example")).await.unwrap());
        assert!(!store.origin_allowed("https://evil.example").await.unwrap());
        assert!(matches!(store.create_client(&c).await, Err(StoreError::Conflict(_))));
        assert!(store.list_clients().await.unwrap().iter().any(|x| x.id == c.id));
        assert!(store.delete_client(&c.id).await.unwrap());
        assert!(!store.delete_client(&c.id).await.unwrap());
        assert!(!store.origin_allowed(&format!("https://{tag}.example")).await.unwrap(), "origins go with the client");
    }
}

#[tokio::test]
async fn rows_from_before_or_broken_read_safely() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let tag = fresh_tag();
        let old = client(&format!("old{tag}"));
        store.create_client(&old).await.unwrap();
        // A row written before token_endpoint_auth_method existed reads as
        // the default for its type.
        let sql = "UPDATE clients SET token_endpoint_auth_method = NULL WHERE id = $1";
        store.execute(sql, sql::run::args![&old.id]).await.unwrap();
        let read = store.list_clients().await.unwrap().into_iter().find(|c| c.id == old.id).unwrap();
        assert_eq!(read.token_endpoint_auth_method, "client_secret_basic", "{}", store.backend());
        // A list column that is not a JSON list is an error, never an
        // empty list (an empty redirect_uris would read as "no app").
        let broken = client(&format!("bad{tag}"));
        store.create_client(&broken).await.unwrap();
        let sql = "UPDATE clients SET redirect_uris = 'not json' WHERE id = $1";
        store.execute(sql, sql::run::args![&broken.id]).await.unwrap();
        assert!(store.get_client(&broken.id).await.is_err(), "{}", store.backend());
    }
}

#[tokio::test]
async fn sessions_and_consent() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let (u, c) = person_and_app(&store).await;
        let s = Session {
            id_hash: random_token(16),
            user_id: u.id.clone(),
            auth_time: 100,
            amr: vec!["pwd".into()],
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1000,
            ip: Some("127.0.0.1".into()),
            user_agent: None,
        };
        store.create_session(&s).await.unwrap();
        assert_eq!(store.get_session(&s.id_hash).await.unwrap(), Some(s.clone()));
        store.touch_session(&s.id_hash, 150).await.unwrap();
        assert_eq!(store.get_session(&s.id_hash).await.unwrap().unwrap().last_seen_at, 150);
        assert_eq!(store.count_user_sessions(&u.id, 200).await.unwrap(), 1);
        assert_eq!(store.count_user_sessions(&u.id, 1000).await.unwrap(), 0);
        assert_eq!(store.delete_user_sessions(&u.id).await.unwrap(), 1);
        assert_eq!(store.get_session(&s.id_hash).await.unwrap(), None);

        assert_eq!(store.get_consent(&u.id, &c.id).await.unwrap(), None);
        store.put_consent(&u.id, &c.id, &["openid".into()], 1).await.unwrap();
        store.put_consent(&u.id, &c.id, &["openid".into(), "email".into()], 2).await.unwrap();
        assert_eq!(store.get_consent(&u.id, &c.id).await.unwrap(), Some(vec!["openid".into(), "email".into()]));
    }
}

fn key(kid: &str, activates_at: i64) -> StoredKey {
    StoredKey {
        kid: kid.to_string(),
        alg: "RS256".into(),
        private_der: vec![1, 2, 3],
        created_at: 1,
        activates_at,
        retired_at: None,
    }
}

#[tokio::test]
async fn keys_rotate_on_schedule_and_delete() {
    let (stores, _dir) = backends().await;
    for store in stores {
        // Keys are global to the database: the alg is made up, so other
        // tests' keys are never retired by this one.
        let alg = format!("T{}", random_token(4));
        let mut a = key(&random_token(8), 1);
        a.alg = alg.clone();
        store.insert_key(&a).await.unwrap();
        let mut b = key(&random_token(8), 100);
        b.alg = alg.clone();
        store.rotate_key(&b).await.unwrap();
        let listed = store.list_keys().await.unwrap();
        let got_a = listed.iter().find(|k| k.kid == a.kid).unwrap();
        let got_b = listed.iter().find(|k| k.kid == b.kid).unwrap();
        assert_eq!(got_a.retired_at, Some(100), "the old key signs until the new one starts");
        assert_eq!((got_b.activates_at, got_b.retired_at), (100, None));
        assert_eq!(got_b.private_der, vec![1, 2, 3]);
        // A second rotation before the first took effect keeps the order.
        let mut c = key(&random_token(8), 200);
        c.alg = alg.clone();
        store.rotate_key(&c).await.unwrap();
        let listed = store.list_keys().await.unwrap();
        let retired = |kid: &str| listed.iter().find(|k| k.kid == kid).unwrap().retired_at;
        assert_eq!((retired(&a.kid), retired(&b.kid), retired(&c.kid)), (Some(100), Some(200), None));
        assert!(store.delete_key(&c.kid).await.unwrap());
        assert!(!store.delete_key(&c.kid).await.unwrap());
        assert!(store.delete_keys_retired_before(150).await.unwrap() >= 1);
        let left: Vec<String> = store.list_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
        assert!(!left.contains(&a.kid) && left.contains(&b.kid));
        store.ping().await.unwrap();
    }
}

/// A short random name part, so rows of concurrent tests never collide.
fn fresh_tag() -> String {
    random_token(6).to_lowercase()
}

/// A stored account and a stored client, with fresh names.
async fn person_and_app(store: &SqlStore) -> (User, Client) {
    let tag = fresh_tag();
    let (u, c) = (user(&tag), client(&tag));
    store.create_user(&u).await.unwrap();
    store.create_client(&c).await.unwrap();
    (u, c)
}

fn refresh(tag: &str, grant: &str, user: &str, client: &str, expires_at: i64) -> RefreshToken {
    RefreshToken {
        id_hash: format!("{tag}-{}", random_token(8)),
        grant_id: grant.into(),
        client_id: client.into(),
        user_id: user.to_string(),
        scopes: vec!["openid".into(), "offline_access".into()],
        auth_time: 1,
        amr: vec!["pwd".into()],
        created_at: 1,
        expires_at,
        family_expires_at: 10_000,
        used_at: None,
        successor_hash: None,
        successor_sealed: None,
        revoked_at: None,
        dpop_jkt: Some("jkt".into()),
        resources: vec![],
    }
}

fn grant(user: &str, client: &str, now: i64) -> Grant {
    Grant {
        id: random_token(12).into(),
        client_id: client.into(),
        user_id: user.to_string(),
        scopes: vec!["openid".into()],
        created_at: now,
        last_issued_at: now,
        expires_at: now + 1000,
        revoked_at: None,
        revoked_reason: None,
        resources: vec![],
    }
}

fn code_for(g: &Grant, now: i64) -> OneTimeToken {
    OneTimeToken {
        token_hash: random_token(16),
        purpose: "code".into(),
        grant_id: Some(g.id.clone()),
        data: "{\"x\":1}".into(),
        created_at: now,
        expires_at: now + 60,
    }
}

#[tokio::test]
async fn grants_issue_rotate_and_end_together() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let now = 1_000_000;
        let (u, c) = person_and_app(&store).await;
        let g = grant(&u.id, &c.id, now);
        let code = code_for(&g, now);
        store.create_grant(&g, &code).await.unwrap();
        assert_eq!(store.get_grant(&g.id).await.unwrap().as_ref(), Some(&g));

        // The code is taken once; after that it is a replay naming its grant.
        assert_eq!(
            store.consume_one_time("code", &code.token_hash, now + 1).await.unwrap(),
            Consumed::Fresh { data: code.data.clone(), grant_id: Some(g.id.clone()) }
        );
        assert_eq!(
            store.consume_one_time("code", &code.token_hash, now + 2).await.unwrap(),
            Consumed::Replayed { grant_id: Some(g.id.clone()) }
        );
        assert_eq!(
            store.consume_one_time("reset", &code.token_hash, now + 2).await.unwrap(),
            Consumed::Missing,
            "a value of one purpose never passes for another"
        );

        // Issuing extends the grant and stores the first refresh token.
        let first = refresh("a", &g.id, &u.id, &c.id, now + 1000);
        assert!(store.issue_from_grant(&g.id, now + 5, now + 5000, Some(&first)).await.unwrap());
        let stored = store.get_grant(&g.id).await.unwrap().unwrap();
        assert_eq!((stored.last_issued_at, stored.expires_at), (now + 5, now + 5000));
        assert_eq!(store.get_refresh_token(&first.id_hash).await.unwrap().as_ref(), Some(&first));

        let second = refresh("b", &g.id, &u.id, &c.id, now + 1000);
        assert_eq!(
            store.rotate_refresh_token(&first.id_hash, now + 10, b"sealed", &second, now + 5000).await.unwrap(),
            Rotation::Rotated
        );
        let third = refresh("c", &g.id, &u.id, &c.id, now + 1000);
        assert_eq!(
            store.rotate_refresh_token(&first.id_hash, now + 11, b"sealed", &third, now + 5000).await.unwrap(),
            Rotation::AlreadyUsed,
            "{}: a used token rotates once",
            store.backend()
        );
        assert_eq!(store.get_refresh_token(&third.id_hash).await.unwrap(), None, "the loser stores nothing");
        let used = store.get_refresh_token(&first.id_hash).await.unwrap().unwrap();
        assert_eq!(
            (used.used_at, used.successor_hash.as_deref(), used.successor_sealed.as_deref()),
            (Some(now + 10), Some(second.id_hash.as_str()), Some(&b"sealed"[..]))
        );

        // Ending the grant ends its tokens: one statement, any path.
        assert!(!store.access_token_revoked("some-jti", Some(&g.id), now + 20));
        assert_eq!(
            store.revoke_grants(GrantsOf::Grant(&g.id), RevokeReason::RefreshTokenReuse, now + 20).await.unwrap(),
            vec![g.id.clone()]
        );
        assert!(store.access_token_revoked("some-jti", Some(&g.id), now + 20), "at once, on the instance that revoked");
        assert!(
            store.revoke_grants(GrantsOf::Grant(&g.id), RevokeReason::TokenRevoked, now + 21).await.unwrap().is_empty(),
            "revoked once"
        );
        let ended = store.get_grant(&g.id).await.unwrap().unwrap();
        assert_eq!((ended.revoked_at, ended.revoked_reason.as_deref()), (Some(now + 20), Some("refresh_token_reuse")));
        assert_eq!(
            store.get_refresh_token(&second.id_hash).await.unwrap().unwrap().revoked_at,
            Some(now + 20),
            "a token is as revoked as its grant"
        );
        let fourth = refresh("d", &g.id, &u.id, &c.id, now + 1000);
        assert_eq!(
            store.rotate_refresh_token(&second.id_hash, now + 30, b"sealed", &fourth, now + 5000).await.unwrap(),
            Rotation::GrantRevoked
        );
        assert!(!store.issue_from_grant(&g.id, now + 30, now + 5000, None).await.unwrap());
        assert_eq!(store.get_refresh_token(&fourth.id_hash).await.unwrap(), None);

        // Bulk: by person and client, by person, by client.
        let (u2, c2) = person_and_app(&store).await;
        let mut ids = Vec::new();
        for (user_id, client_id) in [(&u.id, &c.id), (&u.id, &c2.id), (&u2.id, &c.id), (&u2.id, &c2.id)] {
            let g = grant(user_id, client_id, now);
            store.create_grant(&g, &code_for(&g, now)).await.unwrap();
            ids.push(g.id);
        }
        let revoke = |which| store.revoke_grants(which, RevokeReason::AppRevoked, now + 40);
        assert_eq!(
            revoke(GrantsOf::UserClient { user_id: &u.id, client_id: &c.id }).await.unwrap(),
            vec![ids[0].clone()]
        );
        assert_eq!(revoke(GrantsOf::User(&u.id)).await.unwrap(), vec![ids[1].clone()]);
        assert_eq!(revoke(GrantsOf::Client(&c.id)).await.unwrap(), vec![ids[2].clone()]);
        assert!(store.get_grant(&ids[3]).await.unwrap().unwrap().revoked_at.is_none());

        // Expired rows go; live ones stay.
        let stale = refresh("f", &ids[3], &u2.id, &c2.id, 50);
        assert!(store.issue_from_grant(&ids[3], now, now + 1000, Some(&stale)).await.unwrap());
        assert!(store.delete_expired_refresh_tokens(60).await.unwrap() >= 1);
        assert_eq!(store.get_refresh_token(&stale.id_hash).await.unwrap(), None);
        assert!(store.delete_expired_one_time(now + 61).await.unwrap() >= 1);
        assert_eq!(store.consume_one_time("code", &code.token_hash, now + 62).await.unwrap(), Consumed::Missing);
        assert!(store.delete_expired_grants(now + 6000).await.unwrap() >= 1);
        assert_eq!(store.get_grant(&g.id).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_single_use_value_is_taken_once_under_concurrency() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let store = std::sync::Arc::new(store);
        let now = 1_000_000;
        let token = OneTimeToken {
            token_hash: random_token(16),
            purpose: "reset".into(),
            grant_id: None,
            data: "link".into(),
            created_at: now,
            expires_at: now + 60,
        };
        store.insert_one_time(&token).await.unwrap();
        assert_eq!(store.peek_one_time("reset", &token.token_hash, now).await.unwrap().as_deref(), Some("link"));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, hash) = (store.clone(), token.token_hash.clone());
                tokio::spawn(async move { store.consume_one_time("reset", &hash, now + 1).await.unwrap() })
            })
            .collect();
        let mut fresh = 0;
        for t in tasks {
            match t.await.unwrap() {
                Consumed::Fresh { .. } => fresh += 1,
                Consumed::Replayed { .. } => {}
                Consumed::Missing => panic!("{}: a used value is a replay, not unknown", store.backend()),
            }
        }
        assert_eq!(fresh, 1, "{}: exactly one of 20 takes it", store.backend());
        assert_eq!(store.peek_one_time("reset", &token.token_hash, now).await.unwrap(), None);
        // Expired and never used: unknown.
        let old = OneTimeToken { token_hash: random_token(16), expires_at: now, ..token.clone() };
        store.insert_one_time(&old).await.unwrap();
        assert_eq!(store.consume_one_time("reset", &old.token_hash, now).await.unwrap(), Consumed::Missing);
    }
}

/// A second store on the same database: another instance.
async fn sibling(store: &SqlStore, place: &Place) -> SqlStore {
    let url = match store.backend() {
        "sqlite" => format!("sqlite://{}/test.db", place.dir.path().display()),
        _ => place.pg_url.clone().unwrap(),
    };
    SqlStore::connect(&url).await.unwrap()
}

#[tokio::test]
async fn another_instance_learns_changes_from_the_feed() {
    let (stores, dir) = backends().await;
    for a in stores {
        let b = sibling(&a, &dir).await;
        let now = 2_000_000;
        let since = super::mirror::wall_ms() - 1000;
        let tag = fresh_tag();
        let u = user(&tag);
        a.create_user(&u).await.unwrap();
        let mut c = client(&tag);
        a.create_client(&c).await.unwrap();
        // b reads (and caches) the client and the account.
        assert_eq!(b.get_client(&c.id).await.unwrap().unwrap().name, "App");
        assert!(!b.get_user(&u.id).await.unwrap().unwrap().disabled);

        c.name = "Renamed".into();
        a.update_client(&c).await.unwrap();
        a.set_user_disabled(&u.id, true, now).await.unwrap();
        a.revoke_access_token("jti-1", &c.id, now, now + 100).await.unwrap();
        let g = grant(&u.id, &c.id, now);
        a.create_grant(&g, &code_for(&g, now)).await.unwrap();
        a.revoke_grants(GrantsOf::User(&u.id), RevokeReason::AccountDisabled, now).await.unwrap();
        // a knows at once; b still has its copies.
        assert_eq!(a.get_client(&c.id).await.unwrap().unwrap().name, "Renamed");
        assert!(a.access_token_revoked("jti-1", None, now) && a.access_token_revoked("x", Some(&g.id), now));
        assert_eq!(b.get_client(&c.id).await.unwrap().unwrap().name, "App");
        assert!(!b.access_token_revoked("jti-1", None, now));

        assert!(b.catch_up(since, now).await.unwrap() >= 4);
        assert_eq!(b.get_client(&c.id).await.unwrap().unwrap().name, "Renamed");
        assert!(b.get_user(&u.id).await.unwrap().unwrap().disabled);
        assert!(b.access_token_revoked("jti-1", None, now));
        assert!(b.access_token_revoked("x", Some(&g.id), now), "bulk revocations are resolved");
        assert!(!b.access_token_revoked("jti-1", None, now + 101), "until the token expires");
        assert_eq!(b.catch_up(since, now).await.unwrap(), 0, "each change applies once");

        // A new instance loads what is revoked from the database.
        let fresh = sibling(&a, &dir).await;
        assert!(!fresh.access_token_revoked("jti-1", None, now));
        fresh.reload_revocations(now).await.unwrap();
        assert!(fresh.access_token_revoked("jti-1", None, now));
        assert!(fresh.access_token_revoked("x", Some(&g.id), now));
        assert!(a.delete_expired_access_token_revocations(now + 101).await.unwrap() >= 1, "pruned after expiry");
        assert!(a.prune_changes(super::mirror::wall_ms() + 1).await.unwrap() >= 4);
    }
}

#[tokio::test]
async fn lockouts_hold_until_they_end() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let (a, b) = (random_token(8), random_token(8));
        assert_eq!(store.locked_until(std::slice::from_ref(&a), 100).await.unwrap(), None);
        store.lock(&a, 200).await.unwrap();
        store.lock(&a, 150).await.unwrap();
        store.lock(&b, 300).await.unwrap();
        assert_eq!(store.locked_until(std::slice::from_ref(&a), 100).await.unwrap(), Some(200), "the later lock wins");
        assert_eq!(store.locked_until(&[a.clone(), b.clone()], 100).await.unwrap(), Some(300));
        assert_eq!(store.locked_until(std::slice::from_ref(&a), 200).await.unwrap(), None);
        store.unlock(&b).await.unwrap();
        assert_eq!(store.locked_until(std::slice::from_ref(&b), 100).await.unwrap(), None);
        assert!(store.delete_expired_lockouts(250).await.unwrap() >= 1);
    }
}

#[tokio::test]
async fn audit_events_are_listed_newest_first() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let who = random_token(8);
        for (i, event) in ["a", "b"].iter().enumerate() {
            store
                .record_audit(&AuditEvent {
                    id: random_token(8),
                    at: 100 + i as i64,
                    event: event.to_string(),
                    outcome: "success".into(),
                    user_id: Some(who.clone()),
                    client_id: None,
                    ip: Some("127.0.0.1".into()),
                    user_agent: None,
                    detail: None,
                })
                .await
                .unwrap();
        }
        let listed = store.list_audit(Some(&who), 10).await.unwrap();
        assert_eq!(listed.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), vec!["b", "a"], "{}", store.backend());
        assert!(store.list_audit(None, 1).await.unwrap().len() == 1);
    }
}

fn identity(subject: &str, user_id: &str) -> Identity {
    Identity {
        provider: "github".into(),
        subject: subject.into(),
        user_id: user_id.into(),
        login: format!("gh-{subject}"),
        email: None,
        linked_at: 30,
        last_used_at: 30,
    }
}

#[tokio::test]
async fn identities_link_once_and_create_atomically() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let b = store.backend();
        let tag = fresh_tag();
        // Unique per run: the PostgreSQL database outlives the test.
        let subject = format!("9{tag}");
        let ada = user(&format!("a{tag}"));
        store.create_user(&ada).await.unwrap();
        let linked = identity(&subject, &ada.id);
        store.link_identity(&linked).await.unwrap();
        assert_eq!(store.find_identity("github", &subject).await.unwrap().as_ref(), Some(&linked), "{b}");

        // The same GitHub identity for another account, or a second GitHub
        // identity for the same account: both conflict.
        let bob = user(&format!("b{tag}"));
        store.create_user(&bob).await.unwrap();
        assert!(matches!(store.link_identity(&identity(&subject, &bob.id)).await, Err(StoreError::Conflict(_))));
        assert!(matches!(
            store.link_identity(&identity(&format!("x{subject}"), &ada.id)).await,
            Err(StoreError::Conflict(_))
        ));

        // Creating an account with an identity already linked leaves no
        // account behind.
        let carol = user(&format!("c{tag}"));
        assert!(matches!(
            store.create_user_with_identity(&carol, &identity(&subject, &carol.id)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.get_user(&carol.id).await.unwrap().is_none(), "{b}: rolled back");
        store.create_user_with_identity(&carol, &identity(&format!("c{subject}"), &carol.id)).await.unwrap();
        assert_eq!(store.user_identities(&carol.id).await.unwrap().len(), 1);

        let mut seen = linked.clone();
        seen.login = "renamed".into();
        seen.last_used_at = 40;
        store.touch_identity(&seen).await.unwrap();
        assert_eq!(store.find_identity("github", &subject).await.unwrap(), Some(seen));

        // Profile values fill gaps only.
        store.fill_profile(&ada.id, Some("Other"), Some("https://pic.example/a.png"), 50).await.unwrap();
        let again = store.get_user(&ada.id).await.unwrap().unwrap();
        assert_eq!(again.name.as_deref(), Some("Ada"), "{b}: own name kept");
        assert_eq!(again.picture.as_deref(), Some("https://pic.example/a.png"));

        assert!(!store.set_email_verified(&ada.id, "other@example.com", 60).await.unwrap());
        assert!(store.set_email_verified(&ada.id, &ada.email, 60).await.unwrap());
        assert!(store.get_user(&ada.id).await.unwrap().unwrap().email_verified, "{b}");

        assert!(store.unlink_identity(&ada.id, "github").await.unwrap());
        assert!(!store.unlink_identity(&ada.id, "github").await.unwrap());
        assert!(store.find_identity("github", &subject).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn totp_steps_only_move_forward_and_backup_codes_work_once() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let b = store.backend();
        let tag = fresh_tag();
        let u = user(&format!("m{tag}"));
        store.create_user(&u).await.unwrap();
        assert!(store.get_totp(&u.id).await.unwrap().is_none());
        let record =
            TotpRecord { user_id: u.id.clone(), secret_sealed: vec![1, 2, 3], last_step: None, enabled_at: 70 };
        store.enable_totp(&record, &["h1".into(), "h2".into()]).await.unwrap();
        assert_eq!(store.get_totp(&u.id).await.unwrap().as_ref(), Some(&record), "{b}");
        assert!(store.advance_totp_step(&u.id, 100).await.unwrap());
        assert!(!store.advance_totp_step(&u.id, 100).await.unwrap(), "{b}: replay");
        assert!(!store.advance_totp_step(&u.id, 99).await.unwrap(), "older step");
        assert!(store.advance_totp_step(&u.id, 101).await.unwrap());
        assert_eq!(store.backup_codes_left(&u.id).await.unwrap(), 2);
        assert!(store.use_backup_code(&u.id, "h1", 80).await.unwrap());
        assert!(!store.use_backup_code(&u.id, "h1", 81).await.unwrap(), "{b}: used once");
        assert!(!store.use_backup_code(&u.id, "nope", 81).await.unwrap());
        assert_eq!(store.backup_codes_left(&u.id).await.unwrap(), 1);
        // Enrolling again replaces the codes.
        store.enable_totp(&record, &["h3".into()]).await.unwrap();
        assert!(!store.use_backup_code(&u.id, "h2", 82).await.unwrap());
        assert!(store.disable_totp(&u.id).await.unwrap());
        assert!(store.get_totp(&u.id).await.unwrap().is_none());
        assert_eq!(store.backup_codes_left(&u.id).await.unwrap(), 0);
    }
}
