//! The network itself: a tch module built from the layer plan in [`crate::plan`].

use std::fmt;

use tch::Tensor;
use tch::nn::{self, ModuleT};

use crate::config::{ModelConfig, ModelError};
use crate::plan::{self, NUM_CLASSES, Stage};

/// PyTorch's default initialisation of `nn.Conv2d` and `nn.Linear` (weights and biases):
/// Kaiming-uniform with `a = sqrt(5)`, which is uniform on `±1/sqrt(fan_in)`. tch's own
/// default (Kaiming-uniform with the ReLU gain, `±sqrt(6/fan_in)`, zero conv bias) starts
/// about 2.4 times larger and learned measurably differently from the study's PyTorch code.
fn torch_default_bound(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// A convolution ("same" padding, with bias) followed by an optional `BatchNorm2d`, both
/// initialised as PyTorch does by default (batch norm: weight 1, bias 0).
#[derive(Debug)]
struct ConvUnit {
    conv: nn::Conv2D,
    bn: Option<nn::BatchNorm>,
}

impl ConvUnit {
    /// Creates the conv as `vs / conv_name` and the BN as `vs / bn_name`.
    fn new(
        vs: &nn::Path,
        conv_name: &str,
        bn_name: &str,
        cin: i64,
        cout: i64,
        cfg: &ModelConfig,
    ) -> Self {
        let bound = torch_default_bound(cin * cfg.kernel_size * cfg.kernel_size);
        let conv_cfg = nn::ConvConfig {
            padding: cfg.kernel_size / 2,
            ws_init: bound,
            bs_init: bound,
            ..Default::default()
        };
        let conv = nn::conv2d(vs / conv_name, cin, cout, cfg.kernel_size, conv_cfg);
        let bn_cfg = nn::BatchNormConfig {
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let bn = cfg
            .batch_norm
            .then(|| nn::batch_norm2d(vs / bn_name, cout, bn_cfg));
        ConvUnit { conv, bn }
    }

    /// conv then BN (no activation).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let ys = xs.apply(&self.conv);
        match &self.bn {
            Some(bn) => ys.apply_t(bn, train),
            None => ys,
        }
    }
}

/// conv, BN, ReLU, conv, BN (BNs only with batch norm), plus the identity input, then ReLU.
#[derive(Debug)]
struct ResBlock {
    first: ConvUnit,
    second: ConvUnit,
}

impl ResBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let ys = self.first.forward_t(xs, train).relu();
        (self.second.forward_t(&ys, train) + xs).relu()
    }
}

#[derive(Debug)]
enum Layer {
    Conv(Box<ConvUnit>),
    Res(Box<ResBlock>),
    Pool,
}

/// One of the study's CNNs.
///
/// Input: `f32` images `[B, 1, 28, 28]` (normalised); output: logits `[B, 10]`.
/// Implements [`nn::ModuleT`] so batch norm and dropout follow the `train` flag.
/// The layers are listed in the crate docs and by [`crate::layer_table`].
pub struct Net {
    config: ModelConfig,
    layers: Vec<Layer>,
    classifier: nn::Linear,
}

impl Net {
    /// Builds the network described by `cfg`, creating its variables under `vs`
    /// (on `vs`'s device, initialised as PyTorch initialises these layers by default, from
    /// tch's generator, i.e. seeded by `tch::manual_seed`).
    ///
    /// # Panics
    ///
    /// If `cfg` fails [`ModelConfig::validate`]; use [`Net::try_new`] to get the error.
    pub fn new(vs: &nn::Path, cfg: &ModelConfig) -> Net {
        match Net::try_new(vs, cfg) {
            Ok(net) => net,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Net::new`], but returns the validation error instead of panicking.
    pub fn try_new(vs: &nn::Path, cfg: &ModelConfig) -> Result<Net, ModelError> {
        cfg.validate()?;
        let layers = plan::stages(cfg)
            .into_iter()
            .map(|stage| match stage {
                Stage::Conv { name, cin, cout } => {
                    let bn_name = name.replacen("conv", "bn", 1);
                    Layer::Conv(Box::new(ConvUnit::new(vs, name, &bn_name, cin, cout, cfg)))
                }
                Stage::Res { c } => {
                    let res = vs / "res";
                    Layer::Res(Box::new(ResBlock {
                        first: ConvUnit::new(&res, "conv1", "bn1", c, c, cfg),
                        second: ConvUnit::new(&res, "conv2", "bn2", c, c, cfg),
                    }))
                }
                Stage::Pool { .. } => Layer::Pool,
            })
            .collect();
        let features = plan::feature_len(cfg);
        let linear_cfg = nn::LinearConfig {
            ws_init: torch_default_bound(features),
            bs_init: Some(torch_default_bound(features)),
            bias: true,
        };
        let classifier = nn::linear(vs / "classifier", features, NUM_CLASSES, linear_cfg);
        Ok(Net {
            config: cfg.clone(),
            layers,
            classifier,
        })
    }

    /// The configuration this network was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
}

impl ModuleT for Net {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = xs.shallow_clone();
        for layer in &self.layers {
            ys = match layer {
                Layer::Conv(unit) => unit.forward_t(&ys, train).relu(),
                Layer::Res(block) => block.forward_t(&ys, train),
                Layer::Pool => ys.max_pool2d_default(2),
            };
        }
        ys.flatten(1, -1)
            .dropout(self.config.dropout, train)
            .apply(&self.classifier)
    }
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Net")
            .field("config", &self.config)
            .field("parameters", &plan::expected_parameter_count(&self.config))
            .finish_non_exhaustive()
    }
}

/// Number of trainable parameters in `vs` (elements of its trainable variables;
/// batch-norm running statistics are not trainable and are not counted).
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(Tensor::numel)
        .map(|n| n as i64)
        .sum()
}
