use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Ephemeral, EphemeralResult};

/// Short-lived state in Redis, shared by every instance that points at it.
/// Keys are prefixed so one Redis can serve other applications too.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    /// Adds `delta` to the counter at `key`, with EXPIRE NX in the same
    /// transaction: the window starts at the first change and is not
    /// extended by later ones, and a counter that had just expired is never
    /// left without a lifetime.
    async fn add(&self, key: &str, delta: i64, ttl: Duration) -> EphemeralResult<i64> {
        let mut c = self.conn.clone();
        let key = self.key(key);
        let (n,): (i64,) = redis::pipe()
            .atomic()
            .incr(&key, delta)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(secs(ttl))
            .arg("NX")
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(n)
    }

    /// Connects with `timeout` on connecting and on every command: an
    /// unreachable Redis fails a request quickly (503) instead of hanging
    /// it, and the connection is re-established in the background.
    pub async fn connect(url: &str, timeout: Duration) -> EphemeralResult<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self { conn, prefix: "latchkey:".into() })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

fn secs(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

#[async_trait]
impl Ephemeral for RedisStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<()> {
        let mut c = self.conn.clone();
        let _: () = c.set_ex(self.key(key), value, secs(ttl)).await?;
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool> {
        let mut c = self.conn.clone();
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("EX")
            .arg(secs(ttl))
            .query_async(&mut c)
            .await?;
        Ok(stored.is_some())
    }

    async fn get(&self, key: &str) -> EphemeralResult<Option<String>> {
        let mut c = self.conn.clone();
        Ok(c.get(self.key(key)).await?)
    }

    async fn take(&self, key: &str) -> EphemeralResult<Option<String>> {
        let mut c = self.conn.clone();
        // GETDEL is atomic: of two instances redeeming one code, one wins.
        Ok(redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut c).await?)
    }

    async fn delete(&self, key: &str) -> EphemeralResult<()> {
        let mut c = self.conn.clone();
        let _: i64 = c.del(self.key(key)).await?;
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> EphemeralResult<i64> {
        self.add(key, 1, ttl).await
    }

    async fn decr(&self, key: &str, ttl: Duration) -> EphemeralResult<()> {
        self.add(key, -1, ttl).await.map(drop)
    }

    async fn ping(&self) -> EphemeralResult<()> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    async fn publish(&self, channel: &str) -> EphemeralResult<()> {
        let mut c = self.conn.clone();
        let _: i64 = c.publish(self.key(channel), "").await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

/// Wakes `wake` whenever a message arrives on `channel` (prefixed as every
/// key is); reconnects by itself. Runs until dropped.
pub async fn follow_channel(url: String, channel: &str, wake: std::sync::Arc<tokio::sync::Notify>) {
    use futures_util::StreamExt;
    let channel = format!("latchkey:{channel}");
    let mut delay = Duration::from_millis(250);
    loop {
        let subscribed = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        match subscribed {
            Ok(pubsub) => {
                delay = Duration::from_millis(250);
                // Messages sent while unsubscribed are caught up by the poll;
                // catch up at once too.
                wake.notify_one();
                let mut messages = pubsub.into_on_message();
                while messages.next().await.is_some() {
                    wake.notify_one();
                }
                tracing::warn!("change notifications from Redis stopped; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "cannot subscribe to change notifications"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
