//! A counter per key and fixed window in Redis, shared by every API server (rate limits, the
//! login throttle).

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;

use crate::endpoint::{Link, RedisEndpoint};
use crate::QueueError;

/// A counter per key and fixed window, shared by every process that uses the same Redis (the
/// API servers' rate limits).
#[derive(Clone)]
pub struct SharedCounter {
    conn: Link,
}

impl SharedCounter {
    /// Connects; fails if Redis cannot be reached now (callers fall back to local counting).
    pub async fn connect(endpoint: &RedisEndpoint) -> Result<SharedCounter, QueueError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(200)))
            .set_number_of_retries(1);
        Ok(SharedCounter {
            conn: Link::connect(endpoint, config).await?,
        })
    }

    /// Adds one to `key` and returns the new count; the key expires after `ttl`.
    pub async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, QueueError> {
        let mut conn = self.conn.get().await;
        let counted: Result<(u64,), _> = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(key)
            .cmd("EXPIRE")
            .arg(key)
            .arg(ttl.as_secs().max(1))
            .ignore()
            .query_async(&mut conn)
            .await;
        match counted {
            Ok((count,)) => Ok(count),
            Err(error) => {
                self.conn.after_error(&error).await;
                Err(error.into())
            }
        }
    }

    /// Adds one to every key of `limits` (each `(key, limit)`), atomically and only if none is at
    /// its limit yet: `true` when counted, `false` (nothing counted) otherwise. Keys expire after
    /// `ttl`. Concurrent callers can never pass a limit together.
    pub async fn reserve(
        &self,
        limits: &[(String, u64)],
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        let script = redis::Script::new(
            r"
            for i, key in ipairs(KEYS) do
              if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then return 0 end
            end
            for _, key in ipairs(KEYS) do
              redis.call('INCR', key)
              redis.call('EXPIRE', key, ARGV[#KEYS + 1])
            end
            return 1",
        );
        let mut invocation = script.prepare_invoke();
        for (key, _) in limits {
            invocation.key(key);
        }
        for (_, limit) in limits {
            invocation.arg(*limit);
        }
        invocation.arg(ttl.as_secs().max(1));
        let mut conn = self.conn.get().await;
        let counted: i64 = match invocation.invoke_async(&mut conn).await {
            Ok(counted) => counted,
            Err(error) => {
                self.conn.after_error(&error).await;
                return Err(error.into());
            }
        };
        Ok(counted == 1)
    }

    /// Takes one off every key that is above zero (gives back what [`SharedCounter::reserve`]
    /// counted).
    pub async fn release(&self, keys: &[String]) -> Result<(), QueueError> {
        let script = redis::Script::new(
            r"
            for _, key in ipairs(KEYS) do
              if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
            end
            return 1",
        );
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        let mut conn = self.conn.get().await;
        if let Err(error) = invocation.invoke_async::<i64>(&mut conn).await {
            self.conn.after_error(&error).await;
            return Err(error.into());
        }
        Ok(())
    }
}
