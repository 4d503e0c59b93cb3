//! Device authorizations (RFC 8628). Every state change is one conditional
//! statement, so of two concurrent polls or decisions exactly one takes
//! effect, on any instance.

use super::*;

#[derive(FromRow)]
struct DeviceRow {
    device_code_hash: String,
    user_code: String,
    client_id: ClientId,
    scopes: JsonList,
    resources: JsonList,
    status: String,
    user_id: Option<String>,
    grant_id: Option<GrantId>,
    auth_time: Option<i64>,
    amr: Option<String>,
    poll_interval: i64,
    last_polled_at: Option<i64>,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<DeviceRow> for DeviceAuthorization {
    type Error = StoreError;
    fn try_from(r: DeviceRow) -> StoreResult<Self> {
        Ok(DeviceAuthorization {
            status: DeviceStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("device_authorizations.status: `{}`", r.status)))?,
            amr: match &r.amr {
                Some(text) => serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("amr: {e}")))?,
                None => Vec::new(),
            },
            device_code_hash: r.device_code_hash,
            user_code: r.user_code,
            client_id: r.client_id,
            scopes: r.scopes.into(),
            resources: r.resources.into(),
            user_id: r.user_id,
            grant_id: r.grant_id,
            auth_time: r.auth_time,
            poll_interval: r.poll_interval,
            last_polled_at: r.last_polled_at,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

const DEVICE_COLUMNS: &str = "device_code_hash, user_code, client_id, scopes, resources, status, user_id, grant_id, auth_time, amr, poll_interval, last_polled_at, created_at, expires_at";

#[async_trait]
impl DeviceStore for SqlStore {
    async fn create_device(&self, d: &DeviceAuthorization) -> StoreResult<()> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO device_authorizations ({DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ));
        let amr = (!d.amr.is_empty()).then(|| to_json(&d.amr));
        let values = args![
            &d.device_code_hash,
            &d.user_code,
            &d.client_id,
            to_json(&d.scopes),
            to_json(&d.resources),
            d.status.as_str(),
            &d.user_id,
            &d.grant_id,
            d.auth_time,
            &amr,
            d.poll_interval,
            d.last_polled_at,
            d.created_at,
            d.expires_at
        ];
        self.execute(sql, values).await.map_err(conflict("user code"))?;
        Ok(())
    }

    async fn pending_device(&self, user_code: &str, now: Timestamp) -> StoreResult<Option<DeviceAuthorization>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM device_authorizations WHERE user_code = $1 AND status = 'pending' AND expires_at > $2"
        ));
        let row: Option<DeviceRow> = self.fetch_optional(sql, args![user_code, now]).await?;
        row.map(DeviceAuthorization::try_from).transpose()
    }

    async fn decide_device(
        &self, user_code: &str, user_id: &str, decision: DeviceDecision<'_>, now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let decided = match decision {
            DeviceDecision::Approve { grant, auth_time, amr } => {
                let sql = "UPDATE device_authorizations SET status = 'approved', user_id = $1, grant_id = $2, auth_time = $3, amr = $4 WHERE user_code = $5 AND status = 'pending' AND expires_at > $6";
                let values = args![user_id, &grant.id, auth_time, to_json(amr), user_code, now];
                let n = tx.execute(sql, values).await?;
                if n == 1 {
                    tx.insert_grant(grant).await?;
                }
                n == 1
            }
            DeviceDecision::Deny => {
                let sql = "UPDATE device_authorizations SET status = 'denied', user_id = $1 WHERE user_code = $2 AND status = 'pending' AND expires_at > $3";
                tx.execute(sql, args![user_id, user_code, now]).await? == 1
            }
        };
        tx.commit().await?;
        Ok(decided)
    }

    async fn poll_device(&self, device_code_hash: &str, client_id: &ClientId, now: Timestamp) -> StoreResult<Poll> {
        // An approved authorization is taken in one statement: of any number
        // of concurrent polls, one gets it.
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE device_authorizations SET status = 'used', last_polled_at = $1 WHERE device_code_hash = $2 AND client_id = $3 AND status = 'approved' AND expires_at > $1 RETURNING {DEVICE_COLUMNS}"
        ));
        let taken: Option<DeviceRow> = self.fetch_optional(sql, args![now, device_code_hash, client_id]).await?;
        if let Some(row) = taken {
            return Ok(Poll::Approved(Box::new(row.try_into()?)));
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM device_authorizations WHERE device_code_hash = $1"
        ));
        let row: Option<DeviceRow> = self.fetch_optional(sql, args![device_code_hash]).await?;
        let Some(device) = row.map(DeviceAuthorization::try_from).transpose()? else {
            return Ok(Poll::Unknown);
        };
        if &device.client_id != client_id {
            return Ok(Poll::Unknown);
        }
        if now >= device.expires_at {
            return Ok(Poll::Expired);
        }
        Ok(match device.status {
            DeviceStatus::Denied => Poll::Denied,
            DeviceStatus::Used => Poll::Used,
            // Approved between the two reads: the next poll takes it.
            DeviceStatus::Approved => Poll::Pending,
            DeviceStatus::Pending => {
                // RFC 8628 §3.5: polling faster than the interval is
                // answered slow_down, and the interval grows by 5 s.
                let too_soon = device.last_polled_at.is_some_and(|at| now - at < device.poll_interval);
                if too_soon {
                    let sql = "UPDATE device_authorizations SET poll_interval = poll_interval + 5, last_polled_at = $1 WHERE device_code_hash = $2";
                    self.execute(sql, args![now, device_code_hash]).await?;
                    Poll::SlowDown
                } else {
                    let sql = "UPDATE device_authorizations SET last_polled_at = $1 WHERE device_code_hash = $2";
                    self.execute(sql, args![now, device_code_hash]).await?;
                    Poll::Pending
                }
            }
        })
    }

    async fn delete_expired_devices(&self, before: Timestamp) -> StoreResult<u64> {
        self.execute("DELETE FROM device_authorizations WHERE expires_at < $1", args![before]).await
    }
}
