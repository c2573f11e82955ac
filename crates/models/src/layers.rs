//! The layer list of each architecture, computed without building tensors:
//! parameter counts, the markdown layer table and the study's published counts.
//!
//! [`crate::Net::new`] builds its layers from the same list, so the analytic
//! counts here and the variables in a `VarStore` cannot drift apart (a test
//! checks that they agree).

use crate::config::{Architecture, ModelConfig};

/// Input image side (Fashion-MNIST is 1 x 28 x 28).
pub const IMAGE_SIDE: i64 = 28;
/// Number of input channels.
pub const IN_CHANNELS: i64 = 1;
/// Number of classes (the classifier's output width).
pub const NUM_CLASSES: i64 = 10;

/// One stage of the feature extractor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Convolution `cin -> cout` (k x k, "same" padding, bias), optional BN, ReLU.
    Conv {
        name: &'static str,
        cin: i64,
        cout: i64,
    },
    /// Residual block on `c` channels: conv, BN, ReLU, conv, BN (BNs only with batch
    /// norm), add the identity, ReLU.
    Res { c: i64 },
    /// 2x2 max pool, stride 2.
    Pool { name: &'static str },
}

/// The feature-extractor stages of `cfg`'s architecture, in order.
pub(crate) fn stages(cfg: &ModelConfig) -> Vec<Stage> {
    let w = cfg.channels;
    let conv = |name, cin, cout| Stage::Conv { name, cin, cout };
    match cfg.architecture {
        Architecture::Conv2 => vec![
            conv("conv1", IN_CHANNELS, w),
            Stage::Pool { name: "pool1" },
            conv("conv2", w, 2 * w),
            Stage::Pool { name: "pool2" },
        ],
        Architecture::Conv2Res => vec![
            conv("conv1", IN_CHANNELS, w),
            Stage::Res { c: w },
            Stage::Pool { name: "pool1" },
            conv("conv2", w, 2 * w),
            Stage::Pool { name: "pool2" },
        ],
        Architecture::Conv4 => vec![
            conv("conv1", IN_CHANNELS, w),
            conv("conv2", w, 2 * w),
            Stage::Pool { name: "pool1" },
            conv("conv3", 2 * w, 4 * w),
            conv("conv4", 4 * w, 4 * w),
            Stage::Pool { name: "pool2" },
        ],
        Architecture::Conv4Res => vec![
            conv("conv1", IN_CHANNELS, w),
            conv("conv2", w, 2 * w),
            Stage::Res { c: 2 * w },
            Stage::Pool { name: "pool1" },
            conv("conv3", 2 * w, 4 * w),
            conv("conv4", 4 * w, 4 * w),
            Stage::Pool { name: "pool2" },
        ],
    }
}

/// Channels of the last feature map (the one that is flattened).
pub(crate) fn final_channels(cfg: &ModelConfig) -> i64 {
    match cfg.architecture {
        Architecture::Conv2 | Architecture::Conv2Res => 2 * cfg.channels,
        Architecture::Conv4 | Architecture::Conv4Res => 4 * cfg.channels,
    }
}

/// Length of the flattened feature vector fed to the classifier (`c * 7 * 7`).
pub fn feature_len(cfg: &ModelConfig) -> i64 {
    let side = IMAGE_SIDE / 4;
    final_channels(cfg) * side * side
}

/// Floating-point operations of one image's forward pass through a net built from `cfg`
/// (2 per multiply-add of every convolution and of the classifier; batch norm, ReLU and
/// pooling are not counted). A cost model's yardstick, not a measurement: the 4 conv
/// baseline (32 channels, kernel 3) counts about 116 MFLOP.
pub fn forward_flops(cfg: &ModelConfig) -> f64 {
    let k2 = (cfg.kernel_size * cfg.kernel_size) as f64;
    let mut side = IMAGE_SIDE as f64;
    let mut flops = 0.0;
    for stage in stages(cfg) {
        match stage {
            Stage::Conv { cin, cout, .. } => {
                flops += 2.0 * side * side * (cin * cout) as f64 * k2;
            }
            Stage::Res { c } => flops += 2.0 * 2.0 * side * side * (c * c) as f64 * k2,
            Stage::Pool { .. } => side = (side / 2.0).floor(),
        }
    }
    flops + 2.0 * (feature_len(cfg) * NUM_CLASSES) as f64
}

fn conv_params(cin: i64, cout: i64, k: i64) -> i64 {
    cin * cout * k * k + cout
}

fn bn_params(c: i64, batch_norm: bool) -> i64 {
    if batch_norm { 2 * c } else { 0 }
}

/// The number of trainable parameters a [`crate::Net`] built from `cfg` has,
/// computed analytically (no tensors are allocated, so this is cheap even for
/// the 87M-parameter model). Equals [`crate::parameter_count`] of a fresh
/// `VarStore` holding only that net. BN running statistics are not counted.
pub fn expected_parameter_count(cfg: &ModelConfig) -> i64 {
    table_rows(cfg).iter().map(|r| r.params).sum()
}

/// The study's published parameter count for the configurations it published,
/// as printed there (e.g. `"247K"`, `"1.48M"`); `None` for any other config.
///
/// Matches on architecture, channels and kernel size with batch norm on
/// (dropout is irrelevant). The study's batch-norm ablation also printed
/// `"247K"` for `conv4` without batch norm, so that config is included too.
pub fn study_parameter_count(cfg: &ModelConfig) -> Option<&'static str> {
    use Architecture::*;
    let key = (
        cfg.architecture,
        cfg.channels,
        cfg.kernel_size,
        cfg.batch_norm,
    );
    Some(match key {
        (Conv2, 32, 3, true) => "50K",
        (Conv2Res, 32, 3, true) => "76K",
        (Conv4, 32, 1, true) => "83K",
        (Conv4, 32, 3, _) => "247K",
        (Conv4, 32, 5, true) => "576K",
        (Conv4Res, 32, 3, true) => "402K",
        (Conv4Res, 64, 3, true) => "1.48M",
        (Conv4Res, 128, 3, true) => "5.67M",
        (Conv4Res, 512, 3, true) => "87.54M",
        _ => return None,
    })
}

/// One row of the layer table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    layer: String,
    shape: Vec<i64>,
    params: i64,
}

/// Accumulates table rows; knows the kernel size and whether BN is on.
struct RowBuilder {
    rows: Vec<Row>,
    kernel: i64,
    batch_norm: bool,
}

impl RowBuilder {
    fn push(&mut self, layer: String, shape: Vec<i64>, params: i64) {
        self.rows.push(Row {
            layer,
            shape,
            params,
        });
    }

    /// Rows of one convolution unit: conv, BN when on, and ReLU when `relu`.
    fn conv(&mut self, name: &str, cin: i64, cout: i64, side: i64, relu: bool) {
        let k = self.kernel;
        let shape = vec![cout, side, side];
        self.push(
            format!("{name}: conv {k}x{k}, {cin}→{cout}, pad {}", k / 2),
            shape.clone(),
            conv_params(cin, cout, k),
        );
        if self.batch_norm {
            let bn_name = name.replacen("conv", "bn", 1);
            self.push(
                format!("{bn_name}: batch norm"),
                shape.clone(),
                bn_params(cout, true),
            );
        }
        if relu {
            self.push("ReLU".into(), shape, 0);
        }
    }
}

fn table_rows(cfg: &ModelConfig) -> Vec<Row> {
    let mut b = RowBuilder {
        rows: Vec::new(),
        kernel: cfg.kernel_size,
        batch_norm: cfg.batch_norm,
    };
    let (mut c, mut side) = (IN_CHANNELS, IMAGE_SIDE);
    b.push("input".into(), vec![c, side, side], 0);
    for stage in stages(cfg) {
        match stage {
            Stage::Conv { name, cin, cout } => {
                b.conv(name, cin, cout, side, true);
                c = cout;
            }
            Stage::Res { c: rc } => {
                b.conv("res.conv1", rc, rc, side, true);
                b.conv("res.conv2", rc, rc, side, false);
                b.push("res: + identity, ReLU".into(), vec![rc, side, side], 0);
            }
            Stage::Pool { name } => {
                side /= 2;
                b.push(format!("{name}: max pool 2x2"), vec![c, side, side], 0);
            }
        }
    }
    let features = feature_len(cfg);
    b.push("flatten".into(), vec![features], 0);
    b.push(format!("dropout (p = {})", cfg.dropout), vec![features], 0);
    b.push(
        format!("classifier: linear {features}→{NUM_CLASSES}"),
        vec![NUM_CLASSES],
        features * NUM_CLASSES + NUM_CLASSES,
    );
    b.rows
}

/// A markdown table of `cfg`'s layers: layer, output shape (per sample, without
/// the batch dimension) and trainable parameters, ending with a total row.
///
/// BN running statistics are not parameters and are not counted. The names
/// before the `:` are the `VarStore` paths of the layer's variables.
pub fn layer_table(cfg: &ModelConfig) -> String {
    let rows = table_rows(cfg);
    let total: i64 = rows.iter().map(|r| r.params).sum();
    let mut out = String::from("| layer | output shape | parameters |\n|---|---|---:|\n");
    for r in &rows {
        let shape: Vec<String> = r.shape.iter().map(i64::to_string).collect();
        out.push_str(&format!(
            "| {} | `[{}]` | {} |\n",
            r.layer,
            shape.join(", "),
            progress::format::thousands(r.params)
        ));
    }
    out.push_str(&format!(
        "| **total** | | **{}** |\n",
        progress::format::thousands(total)
    ));
    out
}

/// The configurations whose parameter counts the study published, in its order.
pub fn published_configs() -> Vec<ModelConfig> {
    let with = |architecture, channels, kernel_size| ModelConfig {
        architecture,
        channels,
        kernel_size,
        ..ModelConfig::default()
    };
    use Architecture::*;
    vec![
        with(Conv2, 32, 3),
        with(Conv2Res, 32, 3),
        with(Conv4, 32, 3),
        with(Conv4Res, 32, 3),
        with(Conv4Res, 64, 3),
        with(Conv4Res, 128, 3),
        with(Conv4Res, 512, 3),
        with(Conv4, 32, 1),
        with(Conv4, 32, 5),
    ]
}

/// `harness models`: a markdown table of each published configuration's parameter count,
/// ours beside the study's; with `layers`, each architecture's [`layer_table`] after it.
/// The counts are the layer list's, which `Net::new` builds from (a test checks both agree).
pub fn parameter_table(layers: bool) -> String {
    let mut out = String::from(
        "| architecture | channels | kernel | batch norm | parameters (ours) | study |\n|---|---|---|---|---|---|\n",
    );
    for config in published_configs() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            config.architecture,
            config.channels,
            config.kernel_size,
            if config.batch_norm { "yes" } else { "no" },
            progress::format::thousands(expected_parameter_count(&config)),
            study_parameter_count(&config).unwrap_or("—")
        ));
    }
    if layers {
        for architecture in [
            Architecture::Conv2,
            Architecture::Conv2Res,
            Architecture::Conv4,
            Architecture::Conv4Res,
        ] {
            let config = ModelConfig {
                architecture,
                ..ModelConfig::default()
            };
            out.push_str(&format!(
                "\n### {architecture}\n\n{}\n",
                layer_table(&config)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn cfg(architecture: Architecture, channels: i64) -> ModelConfig {
        ModelConfig {
            architecture,
            channels,
            ..ModelConfig::default()
        }
    }

    /// The table has a row per published configuration, ours beside the study's, and the
    /// layer tables only when asked.
    #[test]
    fn the_parameter_table_sets_ours_beside_the_study() {
        let short = parameter_table(false);
        assert_eq!(
            short.lines().count(),
            2 + published_configs().len(),
            "{short}"
        );
        assert!(
            short.contains("| conv4 | 32 | 3 | yes | 303,690 | 247K |"),
            "{short}"
        );
        assert!(
            short.contains("| conv4_res | 512 | 3 | yes | 81,247,242 | 87.54M |"),
            "{short}"
        );
        assert!(!short.contains("###"));
        let long = parameter_table(true);
        assert!(long.starts_with(&short));
        assert_eq!(long.matches("\n### ").count(), 4, "{long}");
        assert!(long.contains("| **total** | | **50,378** |"), "{long}");
    }

    #[test]
    fn forward_flops_count_the_convolutions_and_the_classifier() {
        // 4 conv, 32 channels, kernel 3: 28x28 convs 1->32 and 32->64, then 14x14 convs
        // 64->128 and 128->128, then 128 x 7 x 7 -> 10.
        let by_hand = 2.0
            * (784.0 * 9.0 * (32.0 + 32.0 * 64.0)
                + 196.0 * 9.0 * (64.0 * 128.0 + 128.0 * 128.0)
                + 6272.0 * 10.0);
        assert_eq!(forward_flops(&cfg(Architecture::Conv4, 32)), by_hand);
        assert!((by_hand / 1e6 - 116.2).abs() < 0.1, "{by_hand}");
        // A residual block adds two convs on its channels; width scales the inner convs
        // quadratically.
        let plain = forward_flops(&cfg(Architecture::Conv2, 32));
        let res = forward_flops(&cfg(Architecture::Conv2Res, 32));
        assert_eq!(res - plain, 2.0 * 2.0 * 784.0 * 9.0 * 32.0 * 32.0);
        let wide = forward_flops(&cfg(Architecture::Conv4Res, 512));
        assert!(wide > 200.0 * forward_flops(&cfg(Architecture::Conv4Res, 32)));
    }
}
