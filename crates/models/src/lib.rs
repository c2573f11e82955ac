//! The study's small CNNs for Fashion-MNIST, as [`tch`] modules, with their
//! parameter counts.
//!
//! A [`ModelConfig`] (architecture, base width `w`, kernel size `k`, batch norm,
//! dropout) describes a network; [`Net::new`] builds it under a `nn::Path` and
//! [`Net`] implements [`tch::nn::ModuleT`], so batch norm and dropout follow the
//! `train` flag. Input: `f32` `[B, 1, 28, 28]` (normalised images); output:
//! logits `[B, 10]`. Variables use tch's default initialisation, so the caller
//! seeds them with `tch::manual_seed`.
//!
//! # The architectures
//!
//! The study does not publish its layers; this design is the closest we found
//! to its description (the base width is the output channels of the first
//! convolution and grows with depth; dropout is applied to the final feature
//! vector, which one fully connected layer classifies). In every architecture:
//!
//! * each convolution is `k x k` with "same" padding `k / 2` and keeps its bias
//!   (so that 2 conv without batch norm is exactly 50,186 parameters, the
//!   study's "50K"); when `batch_norm` is on it is followed by `BatchNorm2d`;
//!   ReLU follows (after BN);
//! * pools are 2x2 max pools with stride 2 (28 → 14 → 7);
//! * the last feature map is flattened, dropout is applied to it, and one
//!   linear layer maps it to the 10 classes;
//! * a residual block `ResBlock(c)` is conv(c→c), BN, ReLU, conv(c→c), BN
//!   (the BNs only with `batch_norm`), plus the block's input, then ReLU.
//!
//! | architecture | feature extractor |
//! |---|---|
//! | `conv2` | conv(1→w), pool, conv(w→2w), pool |
//! | `conv2_res` | conv(1→w), ResBlock(w), pool, conv(w→2w), pool |
//! | `conv4` | conv(1→w), conv(w→2w), pool, conv(2w→4w), conv(4w→4w), pool |
//! | `conv4_res` | conv(1→w), conv(w→2w), ResBlock(2w), pool, conv(2w→4w), conv(4w→4w), pool |
//!
//! The tables below are [`layer_table`] for each architecture at the study's
//! baseline (`w = 32`, `k = 3`, batch norm on, dropout 0.2). Output shapes
//! are per image (no batch dimension); the names before `:` are the
//! `VarStore` paths of the layer's variables (`conv1.weight`, `res.bn2.bias`,
//! `classifier.weight`, ...). Batch-norm running statistics are buffers, not
//! parameters, and are not counted. A test keeps these tables in sync with
//! the code.
//!
//! ## `conv2` (2 conv)
//!
//! | layer | output shape | parameters |
//! |---|---|---:|
//! | input | `[1, 28, 28]` | 0 |
//! | conv1: conv 3x3, 1→32, pad 1 | `[32, 28, 28]` | 320 |
//! | bn1: batch norm | `[32, 28, 28]` | 64 |
//! | ReLU | `[32, 28, 28]` | 0 |
//! | pool1: max pool 2x2 | `[32, 14, 14]` | 0 |
//! | conv2: conv 3x3, 32→64, pad 1 | `[64, 14, 14]` | 18,496 |
//! | bn2: batch norm | `[64, 14, 14]` | 128 |
//! | ReLU | `[64, 14, 14]` | 0 |
//! | pool2: max pool 2x2 | `[64, 7, 7]` | 0 |
//! | flatten | `[3136]` | 0 |
//! | dropout (p = 0.2) | `[3136]` | 0 |
//! | classifier: linear 3136→10 | `[10]` | 31,370 |
//! | **total** | | **50,378** |
//!
//! ## `conv2_res` (2 conv + residual block)
//!
//! | layer | output shape | parameters |
//! |---|---|---:|
//! | input | `[1, 28, 28]` | 0 |
//! | conv1: conv 3x3, 1→32, pad 1 | `[32, 28, 28]` | 320 |
//! | bn1: batch norm | `[32, 28, 28]` | 64 |
//! | ReLU | `[32, 28, 28]` | 0 |
//! | res.conv1: conv 3x3, 32→32, pad 1 | `[32, 28, 28]` | 9,248 |
//! | res.bn1: batch norm | `[32, 28, 28]` | 64 |
//! | ReLU | `[32, 28, 28]` | 0 |
//! | res.conv2: conv 3x3, 32→32, pad 1 | `[32, 28, 28]` | 9,248 |
//! | res.bn2: batch norm | `[32, 28, 28]` | 64 |
//! | res: + identity, ReLU | `[32, 28, 28]` | 0 |
//! | pool1: max pool 2x2 | `[32, 14, 14]` | 0 |
//! | conv2: conv 3x3, 32→64, pad 1 | `[64, 14, 14]` | 18,496 |
//! | bn2: batch norm | `[64, 14, 14]` | 128 |
//! | ReLU | `[64, 14, 14]` | 0 |
//! | pool2: max pool 2x2 | `[64, 7, 7]` | 0 |
//! | flatten | `[3136]` | 0 |
//! | dropout (p = 0.2) | `[3136]` | 0 |
//! | classifier: linear 3136→10 | `[10]` | 31,370 |
//! | **total** | | **69,002** |
//!
//! ## `conv4` (4 conv)
//!
//! | layer | output shape | parameters |
//! |---|---|---:|
//! | input | `[1, 28, 28]` | 0 |
//! | conv1: conv 3x3, 1→32, pad 1 | `[32, 28, 28]` | 320 |
//! | bn1: batch norm | `[32, 28, 28]` | 64 |
//! | ReLU | `[32, 28, 28]` | 0 |
//! | conv2: conv 3x3, 32→64, pad 1 | `[64, 28, 28]` | 18,496 |
//! | bn2: batch norm | `[64, 28, 28]` | 128 |
//! | ReLU | `[64, 28, 28]` | 0 |
//! | pool1: max pool 2x2 | `[64, 14, 14]` | 0 |
//! | conv3: conv 3x3, 64→128, pad 1 | `[128, 14, 14]` | 73,856 |
//! | bn3: batch norm | `[128, 14, 14]` | 256 |
//! | ReLU | `[128, 14, 14]` | 0 |
//! | conv4: conv 3x3, 128→128, pad 1 | `[128, 14, 14]` | 147,584 |
//! | bn4: batch norm | `[128, 14, 14]` | 256 |
//! | ReLU | `[128, 14, 14]` | 0 |
//! | pool2: max pool 2x2 | `[128, 7, 7]` | 0 |
//! | flatten | `[6272]` | 0 |
//! | dropout (p = 0.2) | `[6272]` | 0 |
//! | classifier: linear 6272→10 | `[10]` | 62,730 |
//! | **total** | | **303,690** |
//!
//! ## `conv4_res` (4 conv + residual block)
//!
//! | layer | output shape | parameters |
//! |---|---|---:|
//! | input | `[1, 28, 28]` | 0 |
//! | conv1: conv 3x3, 1→32, pad 1 | `[32, 28, 28]` | 320 |
//! | bn1: batch norm | `[32, 28, 28]` | 64 |
//! | ReLU | `[32, 28, 28]` | 0 |
//! | conv2: conv 3x3, 32→64, pad 1 | `[64, 28, 28]` | 18,496 |
//! | bn2: batch norm | `[64, 28, 28]` | 128 |
//! | ReLU | `[64, 28, 28]` | 0 |
//! | res.conv1: conv 3x3, 64→64, pad 1 | `[64, 28, 28]` | 36,928 |
//! | res.bn1: batch norm | `[64, 28, 28]` | 128 |
//! | ReLU | `[64, 28, 28]` | 0 |
//! | res.conv2: conv 3x3, 64→64, pad 1 | `[64, 28, 28]` | 36,928 |
//! | res.bn2: batch norm | `[64, 28, 28]` | 128 |
//! | res: + identity, ReLU | `[64, 28, 28]` | 0 |
//! | pool1: max pool 2x2 | `[64, 14, 14]` | 0 |
//! | conv3: conv 3x3, 64→128, pad 1 | `[128, 14, 14]` | 73,856 |
//! | bn3: batch norm | `[128, 14, 14]` | 256 |
//! | ReLU | `[128, 14, 14]` | 0 |
//! | conv4: conv 3x3, 128→128, pad 1 | `[128, 14, 14]` | 147,584 |
//! | bn4: batch norm | `[128, 14, 14]` | 256 |
//! | ReLU | `[128, 14, 14]` | 0 |
//! | pool2: max pool 2x2 | `[128, 7, 7]` | 0 |
//! | flatten | `[6272]` | 0 |
//! | dropout (p = 0.2) | `[6272]` | 0 |
//! | classifier: linear 6272→10 | `[10]` | 62,730 |
//! | **total** | | **377,802** |
//!
//! ## Parameter counts beside the study's
//!
//! [`expected_parameter_count`] gives any config's count without allocating
//! tensors; [`study_parameter_count`] gives the study's published figure.
//! Batch norm on, dropout irrelevant:
//!
//! | config | ours | study |
//! |---|---:|---:|
//! | `conv2`, w 32, k 3 | 50,378 (50,186 without BN) | 50K |
//! | `conv2_res`, w 32, k 3 | 69,002 | 76K |
//! | `conv4`, w 32, k 3 | 303,690 | 247K |
//! | `conv4_res`, w 32, k 3 | 377,802 | 402K |
//! | `conv4_res`, w 64, k 3 | 1,382,282 | 1.48M |
//! | `conv4_res`, w 128, k 3 | 5,271,306 | 5.67M |
//! | `conv4_res`, w 512, k 3 | 81,247,242 | 87.54M |
//! | `conv4`, w 32, k 1 | 90,442 | 83K |
//! | `conv4`, w 32, k 5 | 730,186 | 576K |

pub mod config;
pub mod layers;
#[cfg(feature = "torch")]
pub mod net;

pub use config::{Architecture, MAX_CHANNELS, MAX_KERNEL_SIZE, ModelConfig, ModelError, Precision};
pub use layers::{
    IMAGE_SIDE, IN_CHANNELS, NUM_CLASSES, expected_parameter_count, feature_len, forward_flops,
    layer_table, parameter_table, published_configs, study_parameter_count,
};
#[cfg(feature = "torch")]
pub use net::{Net, parameter_count};
