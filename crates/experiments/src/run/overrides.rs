//! `--set key.path=value` overrides applied to a TOML config before it is validated.
//!
//! The value is parsed as a TOML value (`3`, `1.5`, `"text"`, `[0, 1.5, 3]`, `true`); a bare word that is not
//! valid TOML is taken as a string, so `--set name=quick` works without quotes.

use crate::{Error, Result};

/// Applies one `key.path=value` override to `doc`, creating intermediate tables as needed.
///
/// # Errors
/// [`Error::Invalid`] when the override has no `=`, an empty key segment, or a path goes through a
/// non-table value.
pub fn apply(doc: &mut toml::Table, assignment: &str) -> Result<()> {
    let bad = |expected: &str, got: String| {
        Error::invalid(format!("--set {assignment:?}"), expected, got)
    };
    let (path, raw) = assignment
        .split_once('=')
        .ok_or_else(|| bad("KEY.PATH=VALUE", "no '='".into()))?;
    let keys: Vec<&str> = path.trim().split('.').map(str::trim).collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(bad(
            "a dotted key such as collateral.alphas",
            format!("{path:?}"),
        ));
    }
    let value = parse_value(raw.trim());
    let (last, parents) = keys
        .split_last()
        .ok_or_else(|| bad("a key", "an empty key".into()))?;
    let mut table = doc;
    for key in parents {
        let entry = table
            .entry((*key).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            other => {
                return Err(bad(
                    &format!("{key:?} to be a table"),
                    format!("a {}", other.type_str()),
                ))
            }
        };
    }
    table.insert((*last).to_string(), value);
    Ok(())
}

/// Merges `over` into `base`: a table in both is merged key by key, any other value of `over` replaces
/// `base`'s (how a config section's fields go over a preset's).
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report
mod tests {
    use super::*;

    #[test]
    fn sets_nested_values_with_toml_types() {
        let mut doc: toml::Table = "name = 'a'\n[collateral]\nseed = 1\n".parse().unwrap();
        apply(&mut doc, "collateral.alphas=[0, 1.5]").unwrap();
        apply(&mut doc, "collateral.seed=7").unwrap();
        apply(&mut doc, "name=quick").unwrap();
        apply(&mut doc, "sweep.enabled=false").unwrap();
        assert_eq!(doc["collateral"]["seed"].as_integer(), Some(7));
        let alphas = doc["collateral"]["alphas"].as_array().unwrap();
        assert_eq!(alphas[1].as_float(), Some(1.5));
        assert_eq!(doc["name"].as_str(), Some("quick"));
        assert_eq!(doc["sweep"]["enabled"].as_bool(), Some(false));
    }

    #[test]
    fn merge_goes_into_nested_tables_and_replaces_other_values() {
        let mut base: toml::Table = "a = 1\nb = [1, 2]\n[t]\nx = 1\ny = 2\n".parse().unwrap();
        let over: toml::Table = "b = [3]\nc = 'new'\n[t]\ny = 5\n".parse().unwrap();
        merge(&mut base, over);
        let want: toml::Table = "a = 1\nb = [3]\nc = 'new'\n[t]\nx = 1\ny = 5\n"
            .parse()
            .unwrap();
        assert_eq!(base, want);
    }

    #[test]
    fn rejects_malformed_overrides() {
        let mut doc: toml::Table = "name = 'a'\n".parse().unwrap();
        assert!(apply(&mut doc, "no-equals-sign").is_err());
        assert!(apply(&mut doc, "a..b=1").is_err());
        assert!(apply(&mut doc, "name.inner=1").is_err());
    }
}
