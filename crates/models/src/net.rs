//! The network itself: a tch module built from the layer list in [`crate::layers`].

use std::fmt;

use tch::Tensor;
use tch::nn::{self, ModuleT};

use crate::config::{ModelConfig, ModelError, Precision};
use crate::layers::{self, NUM_CLASSES, Stage};

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

/// Batch norm's epsilon (PyTorch's and tch's default), named so that folding uses the
/// value the layers were built with.
const BN_EPS: f64 = 1e-5;

/// A convolution ("same" padding, with bias) followed by an optional `BatchNorm2d`, both
/// initialised as PyTorch does by default (batch norm: weight 1, bias 0).
#[derive(Debug)]
struct ConvUnit {
    conv: nn::Conv2D,
    bn: Option<nn::BatchNorm>,
    /// The "same" padding the convolution was built with (for the bf16 call).
    padding: i64,
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
            eps: BN_EPS,
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let bn = cfg
            .batch_norm
            .then(|| nn::batch_norm2d(vs / bn_name, cout, bn_cfg));
        ConvUnit {
            conv,
            bn,
            padding: cfg.kernel_size / 2,
        }
    }

    /// conv then BN (no activation); in bf16 the convolution casts its input, weight and
    /// bias to bfloat16 (autocast's rule), and batch norm takes its bf16 output.
    fn forward_t(&self, xs: &Tensor, train: bool, precision: Precision) -> Tensor {
        let ys = match precision {
            Precision::Fp32 => xs.apply(&self.conv),
            Precision::Bf16 => {
                let bf16 = tch::Kind::BFloat16;
                let bias = self.conv.bs.as_ref().map(|b| b.to_kind(bf16));
                let padding = self.padding;
                xs.to_kind(bf16).conv2d(
                    &self.conv.ws.to_kind(bf16),
                    bias.as_ref(),
                    [1, 1],
                    [padding, padding],
                    [1, 1],
                    1,
                )
            }
        };
        match &self.bn {
            Some(bn) => ys.apply_t(bn, train),
            None => ys,
        }
    }

    /// The convolution with the batch norm's eval-mode affine map folded in: weight and
    /// bias such that `conv(x, w, b) == bn(conv(x))` in eval mode, up to rounding.
    /// With `s = gamma / sqrt(running_var + eps)`: `w = W * s` (per output channel) and
    /// `b = (B - running_mean) * s + beta`.
    fn folded(&self) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let w = self.conv.ws.detach();
            let b = match &self.conv.bs {
                Some(b) => b.detach(),
                None => Tensor::zeros([w.size()[0]], (w.kind(), w.device())),
            };
            match &self.bn {
                None => (w.copy(), b.copy()),
                Some(bn) => {
                    let mut scale = (&bn.running_var + BN_EPS).rsqrt();
                    if let Some(gamma) = &bn.ws {
                        scale *= gamma.detach();
                    }
                    let mut bias = (&b - &bn.running_mean) * &scale;
                    if let Some(beta) = &bn.bs {
                        bias += beta.detach();
                    }
                    (&w * scale.reshape([-1, 1, 1, 1]), bias)
                }
            }
        })
    }
}

/// conv, BN, ReLU, conv, BN (BNs only with batch norm), plus the identity input, then ReLU.
#[derive(Debug)]
struct ResBlock {
    first: ConvUnit,
    second: ConvUnit,
}

impl ResBlock {
    fn forward_t(&self, xs: &Tensor, train: bool, precision: Precision) -> Tensor {
        let ys = self.first.forward_t(xs, train, precision).relu();
        (self.second.forward_t(&ys, train, precision) + xs).relu()
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
    precision: Precision,
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
        let layers = layers::stages(cfg)
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
        let features = layers::feature_len(cfg);
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
            precision: Precision::Fp32,
        })
    }

    /// The same network computing in `precision` (see [`Precision`]); its variables are
    /// unchanged (fp32 master weights).
    pub fn with_precision(mut self, precision: Precision) -> Net {
        self.precision = precision;
        self
    }

    /// The arithmetic of its training and evaluation passes.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The configuration this network was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
}

impl ModuleT for Net {
    /// On the CPU the input is first given NHWC ("channels last") strides, which every later
    /// activation inherits: oneDNN's convolutions then read and write the activations as
    /// they are, where NCHW costs a reorder into its blocked format and back at every
    /// convolution, forward and backward (about 14 % of a 4-conv training step, 20 % of a
    /// 2-conv one, on an Intel Xeon). The values are the same function of the input, but
    /// other kernels sum in another order, so the last bits differ from an NCHW run
    /// (trial schema v4).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = if xs.device() == tch::Device::Cpu && xs.dim() == 4 {
            channels_last(xs)
        } else {
            xs.shallow_clone()
        };
        let precision = self.precision;
        for layer in &self.layers {
            ys = match layer {
                Layer::Conv(unit) => unit.forward_t(&ys, train, precision).relu(),
                Layer::Res(block) => block.forward_t(&ys, train, precision),
                Layer::Pool => ys.max_pool2d_default(2),
            };
        }
        let features = ys.flatten(1, -1).dropout(self.config.dropout, train);
        match precision {
            Precision::Fp32 => features.apply(&self.classifier),
            Precision::Bf16 => {
                let bf16 = tch::Kind::BFloat16;
                let bias = self.classifier.bs.as_ref().map(|b| b.to_kind(bf16));
                features
                    .to_kind(bf16)
                    .linear(&self.classifier.ws.to_kind(bf16), bias.as_ref())
                    // The loss (autocast keeps cross-entropy in fp32) and what follows.
                    .to_kind(tch::Kind::Float)
            }
        }
    }
}

impl Net {
    /// A frozen inference copy of this network (see [`FoldedNet`]): batch norm folded into
    /// the convolutions with the current running statistics, tensors laid out as `layout`
    /// asks (on a non-CPU device every layout is [`Layout::Contiguous`]).
    pub fn folded(&self, layout: Layout) -> FoldedNet {
        FoldedNet::new(self, layout)
    }
}

/// How [`FoldedNet`] lays out its activations and convolution weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// Contiguous NCHW, as [`Net`] runs: oneDNN reorders the weights and the activations
    /// into its blocked format and back at every convolution.
    Contiguous,
    /// NHWC ("channels last") strides: oneDNN's convolutions take and give them directly,
    /// so the activations are not reordered.
    ChannelsLast,
    /// oneDNN's own tensors from the input to the last pool, with the convolution weights
    /// reordered once, when the net is folded, instead of at every call (what
    /// `torch.utils.mkldnn.to_mkldnn` does for a PyTorch module). CPU only.
    #[default]
    Mkldnn,
}

/// A convolution's weight (in the net's layout) and bias, batch norm folded in.
type FoldedConv = (Tensor, Tensor);

/// One stage of a [`FoldedNet`].
#[derive(Debug)]
enum FoldedLayer {
    Conv(FoldedConv),
    Res {
        first: FoldedConv,
        second: FoldedConv,
    },
    Pool,
}

/// An inference-only copy of a [`Net`]: each batch norm folded into the convolution before
/// it (`conv(x, w * s, (b - mean) * s + beta)` with `s = gamma / sqrt(var + eps)`, which
/// equals conv then eval-mode batch norm up to float rounding), no dropout, no autograd.
/// Its outputs equal the net's eval-mode outputs within float tolerance (tested); it is
/// what the latency measurement times. The copy does not follow later training of the
/// net: fold again after changing the weights.
#[derive(Debug)]
pub struct FoldedNet {
    layers: Vec<FoldedLayer>,
    classifier: FoldedConv,
    padding: i64,
    layout: Layout,
}

/// `t` (`[N, C, H, W]`) with NHWC strides: the same values and shape. Written with explicit
/// strides, since `permute().contiguous()` is a no-op when `C == 1` and would leave an
/// input image in NCHW.
fn channels_last(t: &Tensor) -> Tensor {
    let size = t.size();
    let (c, h, w) = (size[1], size[2], size[3]);
    let mut out = Tensor::empty_strided(&size, [h * w * c, 1, w * c, c], (t.kind(), t.device()));
    out.copy_(t);
    out
}

impl FoldedNet {
    fn new(net: &Net, layout: Layout) -> FoldedNet {
        let device = net.classifier.ws.device();
        let layout = if device == tch::Device::Cpu {
            layout
        } else {
            Layout::Contiguous
        };
        let padding = net.config.kernel_size / 2;
        let prepare = |unit: &ConvUnit| -> FoldedConv {
            let (w, b) = unit.folded();
            let w = tch::no_grad(|| match layout {
                Layout::Contiguous => w,
                Layout::ChannelsLast => channels_last(&w),
                Layout::Mkldnn => w.to_mkldnn().mkldnn_reorder_conv2d_weight(
                    [padding, padding],
                    [1, 1],
                    [1, 1],
                    1,
                    None::<&[i64]>,
                ),
            });
            (w, b)
        };
        let layers = net
            .layers
            .iter()
            .map(|layer| match layer {
                Layer::Conv(unit) => FoldedLayer::Conv(prepare(unit)),
                Layer::Res(block) => FoldedLayer::Res {
                    first: prepare(&block.first),
                    second: prepare(&block.second),
                },
                Layer::Pool => FoldedLayer::Pool,
            })
            .collect();
        let classifier = tch::no_grad(|| {
            let w = net.classifier.ws.detach().copy();
            let b = match &net.classifier.bs {
                Some(b) => b.detach().copy(),
                None => Tensor::zeros([w.size()[0]], (w.kind(), w.device())),
            };
            (w, b)
        });
        FoldedNet {
            layers,
            classifier,
            padding,
            layout,
        }
    }

    /// The layout this copy runs in.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn conv(&self, xs: &Tensor, (weight, bias): &FoldedConv) -> Tensor {
        let p = [self.padding, self.padding];
        match self.layout {
            Layout::Mkldnn => xs.mkldnn_convolution(weight, Some(bias), p, [1, 1], [1, 1], 1),
            _ => xs.conv2d(weight, Some(bias), [1, 1], p, [1, 1], 1),
        }
    }

    /// Logits `[B, 10]` for normalised images `[B, 1, 28, 28]`, without autograd.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let mut ys = match self.layout {
                Layout::Contiguous => xs.shallow_clone(),
                Layout::ChannelsLast => channels_last(xs),
                Layout::Mkldnn => xs.contiguous().to_mkldnn(),
            };
            // In oneDNN's layout a ReLU followed by a max-pool is applied after it instead:
            // max-pooling and ReLU commute exactly (both are monotone), and after the pool
            // the ReLU touches a quarter of the values (2 conv at batch 256: 2.7 % faster
            // in an interleaved A/B; channels-last came out 3-6 % slower, so it keeps the
            // order). `relu_due` says a ReLU is owed to `ys`.
            let defer = self.layout == Layout::Mkldnn;
            let mut relu_due = false;
            let owe = |mut z: Tensor, due: &mut bool| {
                if defer {
                    *due = true;
                    z
                } else {
                    z.relu_()
                }
            };
            let settle = |mut ys: Tensor, due: &mut bool| {
                if std::mem::take(due) { ys.relu_() } else { ys }
            };
            for layer in &self.layers {
                ys = match layer {
                    FoldedLayer::Conv(conv) => {
                        let ys = settle(ys, &mut relu_due);
                        owe(self.conv(&ys, conv), &mut relu_due)
                    }
                    FoldedLayer::Res { first, second } => {
                        let ys = settle(ys, &mut relu_due);
                        let h = self.conv(&ys, first).relu_();
                        owe(self.conv(&h, second) + &ys, &mut relu_due)
                    }
                    FoldedLayer::Pool => {
                        if self.layout == Layout::Mkldnn {
                            ys.mkldnn_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
                        } else {
                            ys.max_pool2d_default(2)
                        }
                    }
                };
            }
            ys = settle(ys, &mut relu_due);
            if self.layout == Layout::Mkldnn {
                ys = ys.to_dense(None, false);
            }
            let (w, b) = &self.classifier;
            ys.flatten(1, -1).linear(w, Some(b))
        })
    }
}

impl Net {
    /// The network in the inference form an ONNX file describes ([`onnx::Network`]): batch
    /// norm folded into each convolution exactly as [`Net::folded`] folds it, contiguous
    /// NCHW weights, no dropout. The numbers are copied to the CPU as `f32`.
    pub fn to_onnx(&self) -> onnx::Network {
        let values = |t: &Tensor| -> Vec<f32> {
            let flat = t
                .to_device(tch::Device::Cpu)
                .to_kind(tch::Kind::Float)
                .contiguous()
                .view([-1]);
            Vec::<f32>::try_from(&flat).expect("a float tensor converts to Vec<f32>")
        };
        let conv = |unit: &ConvUnit| -> onnx::Conv {
            let (w, b) = unit.folded();
            let size = w.size();
            onnx::Conv {
                out_channels: size[0],
                in_channels: size[1],
                kernel: size[2],
                weight: values(&w),
                bias: values(&b),
            }
        };
        let stages = self
            .layers
            .iter()
            .map(|layer| match layer {
                Layer::Conv(unit) => onnx::Stage::Conv(conv(unit)),
                Layer::Res(block) => onnx::Stage::Residual {
                    first: conv(&block.first),
                    second: conv(&block.second),
                },
                Layer::Pool => onnx::Stage::MaxPool,
            })
            .collect();
        let (weight, bias) = tch::no_grad(|| {
            let w = self.classifier.ws.detach();
            let b = match &self.classifier.bs {
                Some(b) => b.detach(),
                None => Tensor::zeros([w.size()[0]], (w.kind(), w.device())),
            };
            (w, b)
        });
        let size = weight.size();
        onnx::Network {
            input: [layers::IN_CHANNELS, layers::IMAGE_SIDE, layers::IMAGE_SIDE],
            stages,
            classifier: onnx::Linear {
                outputs: size[0],
                inputs: size[1],
                weight: values(&weight),
                bias: values(&bias),
            },
        }
    }
}

impl ModuleT for FoldedNet {
    /// [`FoldedNet::forward`]; an inference copy has no training mode, so `train` is ignored.
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        self.forward(xs)
    }
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Net")
            .field("config", &self.config)
            .field(
                "parameters",
                &layers::expected_parameter_count(&self.config),
            )
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
