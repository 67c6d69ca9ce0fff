//! Publishing on the pipeline's Redis channels through Spin's outbound Redis.

use anyhow::Context as _;
use spin_sdk::redis::Connection;

use crate::vars;

/// An open outbound Redis connection to the app's `redis_address`.
pub struct Bus {
    conn: Connection,
    address: String,
}

impl Bus {
    /// Connect to the Redis named by the `redis_address` variable (which the
    /// manifest also lists in `allowed_outbound_hosts`).
    pub fn open() -> anyhow::Result<Self> {
        let address = vars::get("redis_address")?;
        let conn = Connection::open(&address)
            .with_context(|| format!("opening outbound Redis connection to {address:?}"))?;
        Ok(Self { conn, address })
    }

    /// Publish `payload` on the channel named by Spin variable `channel_var`.
    pub fn publish_to(&self, channel_var: &str, payload: &[u8]) -> anyhow::Result<String> {
        let channel = vars::get(channel_var)?;
        self.conn
            .publish(&channel, payload)
            .with_context(|| format!("publishing to channel {channel:?} on {}", self.address))?;
        Ok(channel)
    }
}
