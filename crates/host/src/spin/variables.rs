//! `fermyon:spin/variables@2.0.0`: the component's resolved variables.

use crate::bindings::spin::fermyon::spin2_0_0::variables::{Error, Host};
use crate::state::HostState;

impl Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        let Some(spin) = self.spin.as_ref() else {
            return Ok(Err(Error::Other(
                "no Spin capabilities in this store".into(),
            )));
        };
        let valid = !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Ok(Err(Error::InvalidName(format!(
                "{name:?}: variable names are lower_snake_case"
            ))));
        }
        Ok(match spin.grants.variables.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(Error::Undefined(format!("no variable for {name:?}"))),
        })
    }
}
