//! The store conformance suite: every test runs on SQLite, and on PostgreSQL
//! when TEST_DATABASE_URL is set (required when LATCHKEY_REQUIRE_BACKENDS=1).

use super::*;
use crate::crypto::random_token;

/// The stores to test, and the folder holding the SQLite file (removed when
/// dropped).
async fn backends() -> (Vec<SqlStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/test.db", dir.path().display());
    let sqlite = SqlStore::connect(&url).await.unwrap();
    sqlite.migrate().await.unwrap();
    let mut out = vec![sqlite];
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let pg = SqlStore::connect(&url)
                .await
                .expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
            pg.migrate().await.unwrap();
            out.push(pg);
        }
        _ => assert!(
            std::env::var("LATCHKEY_REQUIRE_BACKENDS").is_err(),
            "LATCHKEY_REQUIRE_BACKENDS is set but TEST_DATABASE_URL is not"
        ),
    }
    (out, dir)
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
        role: "user".into(),
        disabled: false,
        created_at: 10,
        updated_at: 10,
    }
}

fn client(tag: &str) -> Client {
    Client {
        id: format!("c{tag}"),
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
    }
}

#[tokio::test]
async fn users_round_trip_and_conflict() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let tag = random_token(6).to_lowercase();
        let u = user(&tag);
        store.create_user(&u).await.unwrap();
        assert_eq!(
            store.get_user(&u.id).await.unwrap().as_ref(),
            Some(&u),
            "{}",
            store.backend()
        );
        assert_eq!(
            store
                .find_user_by_login(&u.username.to_uppercase())
                .await
                .unwrap()
                .map(|x| x.id),
            Some(u.id.clone())
        );
        assert_eq!(
            store.find_user_by_login(&u.email).await.unwrap().map(|x| x.id),
            Some(u.id.clone())
        );
        let mut dup = user(&tag);
        dup.email = format!("other-{tag}@example.com");
        assert!(
            matches!(store.create_user(&dup).await, Err(StoreError::Conflict(_))),
            "{}",
            store.backend()
        );
        assert!(store.set_user_role(&u.id, "admin", 20).await.unwrap());
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
        let tag = random_token(6).to_lowercase();
        let c = client(&tag);
        store.create_client(&c).await.unwrap();
        assert_eq!(store.get_client(&c.id).await.unwrap(), Some(c.clone()));
        assert!(store.origin_allowed(&format!("https://{tag}.example")).await.unwrap());
        assert!(!store.origin_allowed("https://evil.example").await.unwrap());
        assert!(matches!(store.create_client(&c).await, Err(StoreError::Conflict(_))));
        assert!(store.list_clients().await.unwrap().iter().any(|x| x.id == c.id));
        assert!(store.delete_client(&c.id).await.unwrap());
        assert!(!store.delete_client(&c.id).await.unwrap());
        assert!(
            !store.origin_allowed(&format!("https://{tag}.example")).await.unwrap(),
            "origins go with the client"
        );
    }
}

#[tokio::test]
async fn sessions_and_consent() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let tag = random_token(6).to_lowercase();
        let u = user(&tag);
        store.create_user(&u).await.unwrap();
        let c = client(&tag);
        store.create_client(&c).await.unwrap();
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
        store
            .put_consent(&u.id, &c.id, &["openid".into(), "email".into()], 2)
            .await
            .unwrap();
        assert_eq!(
            store.get_consent(&u.id, &c.id).await.unwrap(),
            Some(vec!["openid".into(), "email".into()])
        );
    }
}

#[tokio::test]
async fn keys_retire_and_delete() {
    let (stores, _dir) = backends().await;
    for store in stores {
        // Keys are global; use distinct kids and only assert on our own.
        let a = StoredKey {
            kid: random_token(8),
            alg: "RS256".into(),
            private_der: vec![1, 2, 3],
            created_at: 1,
            retired_at: Some(5),
        };
        store.insert_key(&a).await.unwrap();
        let listed = store.list_keys().await.unwrap();
        let got = listed.iter().find(|k| k.kid == a.kid).unwrap();
        assert_eq!((got.private_der.clone(), got.retired_at), (vec![1, 2, 3], Some(5)));
        assert!(store.delete_keys_retired_before(6).await.unwrap() >= 1);
        assert!(!store.list_keys().await.unwrap().iter().any(|k| k.kid == a.kid));
        store.ping().await.unwrap();
    }
}

fn refresh(tag: &str, family: &str, user: &str, client: &str, expires_at: i64) -> RefreshToken {
    RefreshToken {
        id_hash: format!("{tag}-{}", random_token(8)),
        family_id: family.to_string(),
        client_id: client.to_string(),
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
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_revoke_by_family() {
    let (stores, _dir) = backends().await;
    for store in stores {
        let tag = random_token(6).to_lowercase();
        let u = user(&tag);
        store.create_user(&u).await.unwrap();
        let c = client(&tag);
        store.create_client(&c).await.unwrap();
        let family = random_token(8);
        let first = refresh("a", &family, &u.id, &c.id, 1000);
        store.insert_refresh_token(&first).await.unwrap();
        assert_eq!(
            store.get_refresh_token(&first.id_hash).await.unwrap().as_ref(),
            Some(&first)
        );
        let second = refresh("b", &family, &u.id, &c.id, 1000);
        assert!(
            store
                .rotate_refresh_token(&first.id_hash, 5, b"sealed", &second)
                .await
                .unwrap()
        );
        let third = refresh("c", &family, &u.id, &c.id, 1000);
        assert!(
            !store
                .rotate_refresh_token(&first.id_hash, 6, b"sealed", &third)
                .await
                .unwrap(),
            "{}: a used token rotates once",
            store.backend()
        );
        assert_eq!(
            store.get_refresh_token(&third.id_hash).await.unwrap(),
            None,
            "the loser inserts nothing"
        );
        let used = store.get_refresh_token(&first.id_hash).await.unwrap().unwrap();
        assert_eq!(
            (used.used_at, used.successor_hash.as_deref()),
            (Some(5), Some(second.id_hash.as_str()))
        );
        assert_eq!(used.successor_sealed.as_deref(), Some(&b"sealed"[..]));
        assert_eq!(store.revoke_refresh_family(&family, 7).await.unwrap(), 2);
        assert_eq!(
            store
                .get_refresh_token(&second.id_hash)
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(7)
        );

        let other = refresh("d", &random_token(8), &u.id, &c.id, 1000);
        store.insert_refresh_token(&other).await.unwrap();
        assert_eq!(
            store.revoke_user_refresh_tokens(&u.id, 8).await.unwrap(),
            vec![other.family_id.clone()]
        );
        let another = refresh("e", &random_token(8), &u.id, &c.id, 1000);
        store.insert_refresh_token(&another).await.unwrap();
        assert_eq!(
            store.revoke_client_refresh_tokens(&c.id, 9).await.unwrap(),
            vec![another.family_id.clone()]
        );

        let stale = refresh("f", &random_token(8), &u.id, &c.id, 50);
        store.insert_refresh_token(&stale).await.unwrap();
        assert!(store.delete_expired_refresh_tokens(60).await.unwrap() >= 1);
        assert_eq!(store.get_refresh_token(&stale.id_hash).await.unwrap(), None);
        assert!(store.get_refresh_token(&other.id_hash).await.unwrap().is_some());
        // Deleting the client takes its tokens with it.
        store.delete_client(&c.id).await.unwrap();
        assert_eq!(store.get_refresh_token(&other.id_hash).await.unwrap(), None);
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
        assert_eq!(
            listed.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
            vec!["b", "a"],
            "{}",
            store.backend()
        );
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
        let tag = random_token(6).to_lowercase();
        // Unique per run: the PostgreSQL database outlives the test.
        let subject = format!("9{tag}");
        let ada = user(&format!("a{tag}"));
        store.create_user(&ada).await.unwrap();
        let linked = identity(&subject, &ada.id);
        store.link_identity(&linked).await.unwrap();
        assert_eq!(
            store.find_identity("github", &subject).await.unwrap().as_ref(),
            Some(&linked),
            "{b}"
        );

        // The same GitHub identity for another account, or a second GitHub
        // identity for the same account: both conflict.
        let bob = user(&format!("b{tag}"));
        store.create_user(&bob).await.unwrap();
        assert!(matches!(
            store.link_identity(&identity(&subject, &bob.id)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.link_identity(&identity(&format!("x{subject}"), &ada.id)).await,
            Err(StoreError::Conflict(_))
        ));

        // Creating an account with an identity already linked leaves no
        // account behind.
        let carol = user(&format!("c{tag}"));
        assert!(matches!(
            store
                .create_user_with_identity(&carol, &identity(&subject, &carol.id))
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.get_user(&carol.id).await.unwrap().is_none(), "{b}: rolled back");
        store
            .create_user_with_identity(&carol, &identity(&format!("c{subject}"), &carol.id))
            .await
            .unwrap();
        assert_eq!(store.user_identities(&carol.id).await.unwrap().len(), 1);

        let mut seen = linked.clone();
        seen.login = "renamed".into();
        seen.last_used_at = 40;
        store.touch_identity(&seen).await.unwrap();
        assert_eq!(store.find_identity("github", &subject).await.unwrap(), Some(seen));

        // Profile values fill gaps only.
        store
            .fill_profile(&ada.id, Some("Other"), Some("https://pic.example/a.png"), 50)
            .await
            .unwrap();
        let again = store.get_user(&ada.id).await.unwrap().unwrap();
        assert_eq!(again.name.as_deref(), Some("Ada"), "{b}: own name kept");
        assert_eq!(again.picture.as_deref(), Some("https://pic.example/a.png"));

        assert!(
            !store
                .set_email_verified(&ada.id, "other@example.com", 60)
                .await
                .unwrap()
        );
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
        let tag = random_token(6).to_lowercase();
        let u = user(&format!("m{tag}"));
        store.create_user(&u).await.unwrap();
        assert!(store.get_totp(&u.id).await.unwrap().is_none());
        let record = TotpRecord {
            user_id: u.id.clone(),
            secret_sealed: vec![1, 2, 3],
            last_step: None,
            enabled_at: 70,
        };
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
