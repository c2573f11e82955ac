//! Tidy CSV of the store for pandas, polars or a spreadsheet: one row per trial and epoch,
//! with the trial's resolved configuration flattened into columns.
//!
//! Columns, in this order: the trial's identity and outcome ([`TRIAL_COLUMNS`]), every
//! configuration field by its dotted path (`model.architecture`, `optimizer.lr`,
//! `schedule.Step.every`, ...; lists such as `augmentations` and `fix` as compact JSON in
//! one cell), then the epoch's metrics ([`EPOCH_COLUMNS`]). The configuration columns are
//! the union over the exported trials, sorted; a trial without a field leaves it empty.
//! Numbers are written as JSON writes them (shortest round-trip form); non-finite ones as
//! `NaN`, `inf`, `-inf`, which pandas and polars read as floats. Quoting follows RFC 4180.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use store::record::TrialRecord;

/// Per-trial columns before the configuration.
pub const TRIAL_COLUMNS: [&str; 13] = [
    "experiment",
    "variant",
    "seed",
    "trial_id",
    "status",
    "parameters",
    "final_accuracy",
    "best_accuracy",
    "wall_time_s",
    "device",
    "host",
    "dataset_digest",
    "config_digest",
];

/// Per-epoch columns after the configuration.
pub const EPOCH_COLUMNS: [&str; 9] = [
    "epoch",
    "lr",
    "train_loss_mean",
    "train_loss_sum",
    "test_loss",
    "test_accuracy",
    "train_time_s",
    "eval_time_s",
    "images_per_s",
];

/// The leaves of `value` by dotted path under `prefix` (objects are walked, lists and
/// scalars are leaves): how a resolved configuration becomes columns here and
/// hyper-parameters in the TensorBoard export.
pub fn leaves(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// `value` flattened into `out` by dotted path under `prefix`; lists become one JSON cell.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    let mut all = BTreeMap::new();
    leaves(prefix, value, &mut all);
    out.extend(all.iter().map(|(k, v)| (k.clone(), cell(v))));
}

/// One value as a cell's text.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// RFC 4180: quoted when it holds a comma, a quote, or a line break.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn json<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).expect("records serialise")
}

/// What an export of `records` holds, in words: "9 trials", or "9 trials, 3 of them listed
/// under several experiments" when a shared trial (the baseline) is listed once per
/// experiment.
pub fn rows_words(records: &[TrialRecord]) -> String {
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    for record in records {
        *listed.entry(record.id.as_str()).or_default() += 1;
    }
    let shared = listed.values().filter(|&&n| n > 1).count();
    let trials = listed.len();
    let noun = if trials == 1 { "trial" } else { "trials" };
    if shared == 0 {
        format!("{trials} {noun}")
    } else {
        format!("{trials} {noun}, {shared} of them listed under several experiments")
    }
}

/// The CSV text of `records` (header line included; `\n` line ends).
pub fn csv(records: &[TrialRecord]) -> String {
    let configs: Vec<BTreeMap<String, String>> = records
        .iter()
        .map(|r| {
            let mut flat = BTreeMap::new();
            flatten("", &json(&r.config), &mut flat);
            flat
        })
        .collect();
    let config_columns: Vec<String> = {
        let mut all: Vec<String> = configs.iter().flat_map(|c| c.keys().cloned()).collect();
        all.sort();
        all.dedup();
        all
    };
    let mut out = String::new();
    let header: Vec<String> = TRIAL_COLUMNS
        .iter()
        .map(ToString::to_string)
        .chain(config_columns.iter().cloned())
        .chain(EPOCH_COLUMNS.iter().map(ToString::to_string))
        .map(|h| quote(&h))
        .collect();
    let _ = writeln!(out, "{}", header.join(","));
    for (record, config) in records.iter().zip(&configs) {
        let record_json = json(record);
        let status = match &record_json["status"] {
            Value::String(s) => s.clone(),
            Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
            other => cell(other),
        };
        let trial: Vec<String> = vec![
            record.experiment.clone(),
            record.variant.clone(),
            record.seed.to_string(),
            record.id.clone(),
            status,
            record.parameters.to_string(),
            cell(&record_json["final_accuracy"]),
            cell(&record_json["best_accuracy"]),
            cell(&record_json["wall_time_s"]),
            record.provenance.device.clone(),
            record.provenance.host.clone(),
            record.dataset_digest.clone(),
            record.config_digest.clone(),
        ];
        let config_cells: Vec<String> = config_columns
            .iter()
            .map(|c| config.get(c).cloned().unwrap_or_default())
            .collect();
        for epoch in &record.epochs {
            let e = json(epoch);
            let row: Vec<String> = trial
                .iter()
                .cloned()
                .chain(config_cells.iter().cloned())
                .chain(EPOCH_COLUMNS.iter().map(|c| cell(&e[*c])))
                .map(|f| quote(&f))
                .collect();
            let _ = writeln!(out, "{}", row.join(","));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_and_breaks_are_quoted() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn nested_values_flatten_by_dotted_path_and_lists_stay_one_cell() {
        let v = serde_json::json!({"model": {"channels": 32}, "schedule": {"Step": {"every": 10}}, "fix": ["init"], "x": null});
        let mut out = BTreeMap::new();
        flatten("", &v, &mut out);
        assert_eq!(out["model.channels"], "32");
        assert_eq!(out["schedule.Step.every"], "10");
        assert_eq!(out["fix"], "[\"init\"]");
        assert_eq!(out["x"], "");
    }
}
