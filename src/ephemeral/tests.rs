//! The same suite against the in-process store and, when TEST_REDIS_URL is
//! set, Redis.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::OffsetClock;
use crate::crypto::random_token;

async fn backends() -> Vec<(Arc<dyn Ephemeral>, Option<OffsetClock>)> {
    let clock = OffsetClock::default();
    let mut out: Vec<(Arc<dyn Ephemeral>, Option<OffsetClock>)> =
        vec![(Arc::new(MemoryStore::new(Arc::new(clock.clone()))), Some(clock))];
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let redis = RedisStore::connect(&url, std::time::Duration::from_secs(2))
                .await
                .expect("TEST_REDIS_URL is set but Redis is unreachable");
            out.push((Arc::new(redis), None));
        }
        _ => assert!(
            std::env::var("LATCHKEY_REQUIRE_BACKENDS").is_err(),
            "LATCHKEY_REQUIRE_BACKENDS is set but TEST_REDIS_URL is not"
        ),
    }
    out
}

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn put_get_take_delete() {
    for (s, _) in backends().await {
        let k = format!("test:{}", random_token(8));
        assert_eq!(s.get(&k).await.unwrap(), None);
        s.put(&k, "v1", MIN).await.unwrap();
        assert_eq!(s.get(&k).await.unwrap().as_deref(), Some("v1"), "{}", s.backend());
        assert_eq!(s.take(&k).await.unwrap().as_deref(), Some("v1"));
        assert_eq!(s.take(&k).await.unwrap(), None, "take is once");
        assert!(s.put_if_absent(&k, "a", MIN).await.unwrap());
        assert!(!s.put_if_absent(&k, "b", MIN).await.unwrap());
        assert_eq!(s.get(&k).await.unwrap().as_deref(), Some("a"));
        s.delete(&k).await.unwrap();
        assert_eq!(s.get(&k).await.unwrap(), None);
        s.ping().await.unwrap();
    }
}

#[tokio::test]
async fn take_is_atomic_under_contention() {
    for (s, _) in backends().await {
        let k = format!("test:{}", random_token(8));
        s.put(&k, "code", MIN).await.unwrap();
        let mut handles = Vec::new();
        for _ in 0..16 {
            let s = s.clone();
            let k = k.clone();
            handles.push(tokio::spawn(async move { s.take(&k).await.unwrap() }));
        }
        let mut winners = 0;
        for h in handles {
            if h.await.unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "{}", s.backend());
    }
}

#[tokio::test]
async fn counters_and_expiry() {
    for (s, clock) in backends().await {
        let k = format!("test:{}", random_token(8));
        assert_eq!(s.incr(&k, MIN).await.unwrap(), 1);
        assert_eq!(s.incr(&k, MIN).await.unwrap(), 2);
        if let Some(clock) = clock {
            s.put("test:short", "x", Duration::from_secs(5)).await.unwrap();
            clock.advance(61);
            assert_eq!(s.get("test:short").await.unwrap(), None, "expired with the clock");
            assert_eq!(s.incr(&k, MIN).await.unwrap(), 1, "window restarted");
        }
    }
}

#[tokio::test]
async fn an_id_is_seen_first_once_until_it_expires() {
    use crate::ephemeral::kinds::DPOP_JTIS;
    for (s, clock) in backends().await {
        let id = random_token(8);
        assert!(DPOP_JTIS.first_time(&*s, &id, 60).await.unwrap(), "{}", s.backend());
        assert!(!DPOP_JTIS.first_time(&*s, &id, 60).await.unwrap(), "seen");
        assert!(crate::ephemeral::kinds::ASSERTION_JTIS.first_time(&*s, &id, 60).await.unwrap(), "another set");
        // Of many concurrent first sightings, one wins.
        let fresh = random_token(8);
        let mut handles = Vec::new();
        for _ in 0..16 {
            let (s, fresh) = (s.clone(), fresh.clone());
            handles.push(tokio::spawn(async move { DPOP_JTIS.first_time(&*s, &fresh, 60).await.unwrap() }));
        }
        let mut wins = 0;
        for h in handles {
            wins += h.await.unwrap() as u32;
        }
        assert_eq!(wins, 1, "{}", s.backend());
        if let Some(clock) = clock {
            clock.advance(61);
            assert!(DPOP_JTIS.first_time(&*s, &id, 60).await.unwrap(), "expired: new again");
        }
    }
}

#[tokio::test]
async fn expired_entries_are_swept_as_writes_go_on() {
    let clock = OffsetClock::default();
    let store = MemoryStore::new(Arc::new(clock.clone()));
    for i in 0..3000 {
        crate::ephemeral::kinds::DPOP_JTIS.first_time(&store, &i.to_string(), 10).await.unwrap();
    }
    clock.advance(11);
    for i in 0..5000 {
        crate::ephemeral::kinds::DPOP_JTIS.first_time(&store, &format!("later {i}"), 10).await.unwrap();
    }
    assert!(store.seen_len() < 6000, "the expired ids went: {}", store.seen_len());
}
