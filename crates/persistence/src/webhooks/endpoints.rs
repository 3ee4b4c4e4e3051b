//! Webhook endpoints: create, list, change, delete, rotate their secret, ping.

use super::*;

impl Database {
    /// Registers an endpoint from a complete [`WebhookChanges`] with its secret.
    pub fn create_webhook(
        &self,
        new: &WebhookChanges,
        secret: &str,
    ) -> Result<Webhook, StoreError> {
        let now = now_micros();
        let events = serde_json::to_string(new.events.as_deref().unwrap_or(&[]))
            .unwrap_or_else(|_| "[]".to_owned());
        let url = new.url.clone().unwrap_or_default();
        let active = new.active.unwrap_or(true);
        let id: i64 = with_write_conn!(self, |conn| {
            diesel::insert_into(webhooks::table)
                .values((
                    webhooks::url.eq(&url),
                    webhooks::events.eq(&events),
                    webhooks::active.eq(active),
                    webhooks::secret.eq(secret),
                    webhooks::created_at.eq(now),
                ))
                .returning(webhooks::id)
                .get_result(conn)?
        });
        webhook_of((id, url, events, active, now))
    }

    /// Every endpoint, oldest first.
    pub fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows: Vec<WebhookRow> = with_conn!(self, |conn| webhooks::table
            .order(webhooks::id)
            .select(WEBHOOK_COLUMNS)
            .load(conn)?);
        rows.into_iter().map(webhook_of).collect()
    }

    /// One endpoint.
    pub fn get_webhook(&self, webhook: WebhookId) -> Result<Option<Webhook>, StoreError> {
        let id = webhook.get();
        let row: Option<WebhookRow> = with_conn!(self, |conn| webhooks::table
            .find(id)
            .select(WEBHOOK_COLUMNS)
            .get_result(conn)
            .optional()?);
        row.map(webhook_of).transpose()
    }

    /// Changes an endpoint's fields.
    pub fn update_webhook(
        &self,
        webhook: WebhookId,
        changes: &WebhookChanges,
    ) -> Result<Option<Webhook>, StoreError> {
        let id = webhook.get();
        let events = changes
            .events
            .as_ref()
            .map(|e| serde_json::to_string(e).unwrap_or_else(|_| "[]".to_owned()));
        let updated = with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let exists = webhooks::table
                    .find(id)
                    .select(webhooks::id)
                    .get_result::<i64>(conn)
                    .optional()?
                    .is_some();
                if exists && (changes.url.is_some() || events.is_some() || changes.active.is_some())
                {
                    diesel::update(webhooks::table.find(id))
                        .set((
                            changes.url.as_ref().map(|u| webhooks::url.eq(u)),
                            events.as_ref().map(|e| webhooks::events.eq(e)),
                            changes.active.map(|a| webhooks::active.eq(a)),
                        ))
                        .execute(conn)?;
                }
                Ok::<_, StoreError>(exists)
            })?
        });
        match updated {
            true => self.get_webhook(webhook),
            false => Ok(None),
        }
    }

    /// Deletes an endpoint and its deliveries; `false` when there was none.
    pub fn delete_webhook(&self, webhook: WebhookId) -> Result<bool, StoreError> {
        let id = webhook.get();
        Ok(
            with_write_conn!(self, |conn| diesel::delete(webhooks::table.find(id))
                .execute(conn)?)
                > 0,
        )
    }

    /// Gives an endpoint a new secret; the old one keeps signing alongside for `grace`.
    /// `false` when there is no such endpoint.
    pub fn rotate_webhook_secret(
        &self,
        webhook: WebhookId,
        secret: &str,
        grace: Duration,
    ) -> Result<bool, StoreError> {
        let id = webhook.get();
        let changed = with_write_conn!(self, |conn| {
            diesel::update(webhooks::table.find(id))
                .set((
                    webhooks::previous_secret.eq(webhooks::secret.nullable()),
                    webhooks::previous_secret_until.eq(clock::later(grace).nullable()),
                    webhooks::secret.eq(secret),
                ))
                .execute(conn)?
        });
        Ok(changed > 0)
    }

    /// Queues a ping to an endpoint; its delivery, or `None` when there is no such endpoint.
    pub fn ping_webhook(&self, webhook: WebhookId) -> Result<Option<DeliveryInfo>, StoreError> {
        let id = webhook.get();
        let created = with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let exists = webhooks::table
                    .find(id)
                    .select(webhooks::id)
                    .get_result::<i64>(conn)
                    .optional()?
                    .is_some();
                if !exists {
                    return Ok::<_, StoreError>(None);
                }
                Ok(Some(new_delivery(id, None).get_result::<i64>(conn)?))
            })?
        });
        match created {
            Some(delivery) => self.get_delivery(webhook, DeliveryId::from_stored(delivery)),
            None => Ok(None),
        }
    }
}
