//! Typed access to Spin variables.

use std::str::FromStr;

use anyhow::Context as _;

/// The value of Spin variable `name` (declared in the component's `variables`).
pub fn get(name: &str) -> anyhow::Result<String> {
    spin_sdk::variables::get(name).with_context(|| format!("reading Spin variable {name:?}"))
}

/// The value of `name` parsed as `T`, with an error naming the variable and value.
pub fn parse<T>(name: &str) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let raw = get(name)?;
    raw.trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("Spin variable {name:?} = {raw:?} is not valid: {e}"))
}
