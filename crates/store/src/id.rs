//! Trial identity: the SHA-256 of the canonical resolved configuration, the seed and the
//! dataset digest. Canonical means serialised to JSON with object keys sorted, so
//! reformatting a RON file or reordering its fields never changes an id, and changing any
//! setting always does. The [`SCHEMA`] string is part of every id, so trials whose numbers
//! were computed under another definition of the training loop never share an id.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use trainer::TrialConfig;

/// Bumped if the meaning of a configuration field ever changes, so old ids are not reused.
///
/// v1: one torch seed for init and dropout, one augmentation stream per trial.
/// v2: per-source random streams (`init`, `order`, `augment`, `dropout`, each derived from
/// the seed, the source and the epoch; the `fix` field) and resumable epochs: the same
/// configuration and seed give other numbers than under v1, so v1 and v2 trials never
/// share an id.
/// v3: every layer initialised as PyTorch does by default (conv and linear weights and
/// biases uniform on ±1/sqrt(fan_in), batch-norm weight 1), instead of tch's defaults
/// (Kaiming with the ReLU gain, zero conv bias, batch-norm weight uniform on [0, 1]).
/// v4: on the CPU the nets run on NHWC ("channels last") activations, which oneDNN
/// convolves without reordering them (a faster training step); the kernels sum in another
/// order, so the numbers differ from v3's in the last bits and v3 and v4 trials are never
/// pooled.
pub const SCHEMA: &str = "fmnist-harness/trial/v4";

/// The canonical JSON text of a configuration (sorted keys, no whitespace).
pub fn canonical_json(config: &TrialConfig) -> String {
    let value = serde_json::to_value(config).expect("a trial config always serialises");
    // serde_json's map is a BTreeMap (no `preserve_order`), so keys come out sorted.
    debug_assert!(is_sorted(&value));
    value.to_string()
}

fn is_sorted(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b) && map.values().all(is_sorted)
        }
        Value::Array(items) => items.iter().all(is_sorted),
        _ => true,
    }
}

/// The digest of a configuration alone (no seed): trials with equal config digests may be
/// pooled.
pub fn config_digest(config: &TrialConfig) -> String {
    hex(Sha256::digest(format!(
        "{SCHEMA}\n{}",
        canonical_json(config)
    )))
}

/// The trial id: 64 hex digits.
pub fn trial_id(config: &TrialConfig, seed: u64, dataset_digest: &str) -> String {
    let identity = json!({
        "schema": SCHEMA,
        "config": serde_json::to_value(config).expect("serialises"),
        "seed": seed,
        "dataset": dataset_digest,
    });
    hex(Sha256::digest(identity.to_string()))
}

/// The first 12 hex digits, shown everywhere.
pub fn short(id: &str) -> &str {
    progress::format::short_id(id)
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_every_input() {
        let base = TrialConfig::default();
        let id = trial_id(&base, 0, "d");
        assert_eq!(id.len(), 64);
        assert_eq!(id, trial_id(&base.clone(), 0, "d"));
        assert_ne!(id, trial_id(&base, 1, "d"));
        assert_ne!(id, trial_id(&base, 0, "e"));
        let mut other = base.clone();
        other.model.dropout = 0.5;
        assert_ne!(id, trial_id(&other, 0, "d"));
        let mut other = base.clone();
        other.data.train_limit = Some(100);
        assert_ne!(id, trial_id(&other, 0, "d"));
        assert_eq!(short(&id).len(), 12);
        let mut other = base.clone();
        other.fix = vec![trainer::RandomSource::Init];
        assert_ne!(id, trial_id(&other, 0, "d"));
    }

    #[test]
    fn the_schema_is_part_of_the_id() {
        // The id of the default config, seed 0, dataset "d" under schema v4 (a v3 id of
        // the same inputs differs): recomputed here from its definition.
        let identity = json!({
            "schema": "fmnist-harness/trial/v4",
            "config": serde_json::to_value(TrialConfig::default()).unwrap(),
            "seed": 0,
            "dataset": "d",
        });
        let v4 = hex(Sha256::digest(identity.to_string()));
        assert_eq!(trial_id(&TrialConfig::default(), 0, "d"), v4);
        let mut v3 = identity.clone();
        v3["schema"] = json!("fmnist-harness/trial/v3");
        assert_ne!(hex(Sha256::digest(v3.to_string())), v4);
    }

    #[test]
    fn canonical_json_has_sorted_keys() {
        let text = canonical_json(&TrialConfig::default());
        let batch = text.find("\"batch_size\"").unwrap();
        let model = text.find("\"model\"").unwrap();
        assert!(batch < model, "{text}");
    }
}
