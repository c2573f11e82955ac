//! ONNX model files of the study's networks, written without libtorch or protoc.
//!
//! A [`Network`] is the inference form of one of the study's CNNs as plain numbers: each
//! convolution with its batch norm already folded in (the `models` crate builds it from a
//! trained net), residual blocks, 2x2 max pools and the linear classifier. [`encode`]
//! checks that the shapes chain and writes an ONNX `ModelProto`:
//!
//! - input `images`: `float32 [batch, 1, 28, 28]`, normalised images (the batch dimension
//!   is symbolic, so any batch size runs);
//! - output `logits`: `float32 [batch, 10]`;
//! - nodes `Conv` ("same" padding, stride 1), `Relu`, `Add` (the residual identity),
//!   `MaxPool` (2x2, stride 2), `Flatten` (axis 1) and `Gemm` (the classifier, `transB`);
//!   dropout is the identity at inference and is left out;
//! - opset [`OPSET`] of the default domain, IR version [`IR_VERSION`];
//! - the weights as little-endian `raw_data` initializers;
//! - [`About`]'s description and key/value metadata, which ONNX Runtime exposes as the
//!   model's custom metadata.
//!
//! The messages are in [`proto`]; [`decode`] reads a file back (for tests and checks).

pub mod proto;

use prost::Message;
use proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};

/// The ONNX operator set the graph uses (every operator here has had its current form
/// since opset 13 or earlier; 17 is read by ONNX Runtime 1.13 and later).
pub const OPSET: i64 = 17;
/// The IR version that goes with [`OPSET`] (ONNX 1.12's).
pub const IR_VERSION: i64 = 8;
/// The graph input's name.
pub const INPUT: &str = "images";
/// The graph output's name.
pub const OUTPUT: &str = "logits";

/// A shape that does not chain, or a weight of the wrong length.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OnnxError {
    /// A tensor's element count differs from its shape's.
    #[error("{name}: {found} values for shape {shape:?} ({expected} expected)")]
    Length {
        /// The tensor.
        name: String,
        /// Its shape.
        shape: Vec<i64>,
        /// Elements the shape holds.
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// A layer's input width differs from what the layer before gives.
    #[error("{name}: takes {expected} input channels or features, but gets {found}")]
    Chain {
        /// The layer.
        name: String,
        /// What it takes.
        expected: i64,
        /// What it gets.
        found: i64,
    },
    /// A kernel that "same" padding cannot keep the size with.
    #[error("{name}: kernel {kernel} (an odd size of at least 1 is needed for same padding)")]
    Kernel {
        /// The layer.
        name: String,
        /// Its kernel size.
        kernel: i64,
    },
}

/// A convolution, batch norm folded in: `k x k`, stride 1, "same" padding, with bias.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// Output channels.
    pub out_channels: i64,
    /// Input channels.
    pub in_channels: i64,
    /// Kernel side.
    pub kernel: i64,
    /// `[out, in, k, k]`, row-major.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

/// One stage of the feature extractor; each convolution is followed by ReLU.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// Convolution, ReLU.
    Conv(Conv),
    /// `relu(second(relu(first(x))) + x)`.
    Residual {
        /// The first convolution.
        first: Conv,
        /// The second convolution.
        second: Conv,
    },
    /// 2x2 max pool, stride 2.
    MaxPool,
}

/// The classifier: `y = x W^T + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// Outputs (classes).
    pub outputs: i64,
    /// Inputs (flattened features).
    pub inputs: i64,
    /// `[outputs, inputs]`, row-major.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

/// A network in inference form.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Input channels, height and width of one image.
    pub input: [i64; 3],
    /// The feature extractor.
    pub stages: Vec<Stage>,
    /// The classifier on the flattened features.
    pub classifier: Linear,
}

/// What the file says about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct About {
    /// The graph's name.
    pub name: String,
    /// The model's description (`doc_string`).
    pub description: String,
    /// The writer's version (`producer_version`).
    pub producer_version: String,
    /// Key/value metadata, in order.
    pub metadata: Vec<(String, String)>,
}

/// The producer name written into every file.
pub const PRODUCER: &str = "fmnist-harness";

/// Checks `net`'s shapes and writes it as an ONNX model file's bytes.
pub fn encode(net: &Network, about: &About) -> Result<Vec<u8>, OnnxError> {
    Ok(model(net, about)?.encode_to_vec())
}

/// Reads an ONNX model file's bytes (the fields this crate knows).
pub fn decode(bytes: &[u8]) -> Result<ModelProto, prost::DecodeError> {
    ModelProto::decode(bytes)
}

/// The model message of `net` (see [`encode`]).
pub fn model(net: &Network, about: &About) -> Result<ModelProto, OnnxError> {
    let mut graph = Graph::default();
    let [mut channels, mut height, mut width] = net.input;
    let mut value = INPUT.to_string();
    let mut convs = 0;
    let mut pools = 0;
    let mut residuals = 0;
    for stage in &net.stages {
        match stage {
            Stage::Conv(conv) => {
                convs += 1;
                let name = format!("conv{convs}");
                channels = graph.check_conv(&name, conv, channels)?;
                let out = graph.conv(&name, conv, &value);
                value = graph.relu(&format!("{name}.relu"), &out);
            }
            Stage::Residual { first, second } => {
                residuals += 1;
                let name = format!("res{residuals}");
                let inner = graph.check_conv(&format!("{name}.conv1"), first, channels)?;
                let after = graph.check_conv(&format!("{name}.conv2"), second, inner)?;
                if after != channels {
                    return Err(OnnxError::Chain {
                        name: format!("{name} (identity)"),
                        expected: channels,
                        found: after,
                    });
                }
                let h = graph.conv(&format!("{name}.conv1"), first, &value);
                let h = graph.relu(&format!("{name}.relu1"), &h);
                let h = graph.conv(&format!("{name}.conv2"), second, &h);
                let sum = format!("{name}.add");
                graph.node("Add", &sum, &[&h, &value], &sum, Vec::new());
                value = graph.relu(&format!("{name}.relu2"), &sum);
            }
            Stage::MaxPool => {
                pools += 1;
                let name = format!("pool{pools}");
                graph.node(
                    "MaxPool",
                    &name,
                    &[&value],
                    &name,
                    vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
                );
                value = name;
                height /= 2;
                width /= 2;
            }
        }
    }
    graph.node(
        "Flatten",
        "flatten",
        &[&value],
        "flatten",
        vec![int("axis", 1)],
    );
    let features = channels * height * width;
    let classifier = &net.classifier;
    if classifier.inputs != features {
        return Err(OnnxError::Chain {
            name: "classifier".into(),
            expected: classifier.inputs,
            found: features,
        });
    }
    let w = graph.initializer(
        "classifier.weight",
        &[classifier.outputs, classifier.inputs],
        &classifier.weight,
    )?;
    let b = graph.initializer("classifier.bias", &[classifier.outputs], &classifier.bias)?;
    graph.node(
        "Gemm",
        "classifier",
        &["flatten", &w, &b],
        OUTPUT,
        vec![int("transB", 1)],
    );
    let [c, h, w] = net.input;
    let graph = GraphProto {
        node: graph.nodes,
        name: about.name.clone(),
        initializer: graph.initializers,
        doc_string: String::new(),
        input: vec![tensor_value(INPUT, &[-1, c, h, w])],
        output: vec![tensor_value(OUTPUT, &[-1, classifier.outputs])],
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        producer_name: PRODUCER.into(),
        producer_version: about.producer_version.clone(),
        domain: String::new(),
        model_version: 1,
        doc_string: about.description.clone(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: about
            .metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    })
}

/// The graph being built.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    /// Checks a convolution against the channels it gets; returns its output channels.
    fn check_conv(&self, name: &str, conv: &Conv, channels: i64) -> Result<i64, OnnxError> {
        if conv.kernel < 1 || conv.kernel % 2 == 0 {
            return Err(OnnxError::Kernel {
                name: name.into(),
                kernel: conv.kernel,
            });
        }
        if conv.in_channels != channels {
            return Err(OnnxError::Chain {
                name: name.into(),
                expected: conv.in_channels,
                found: channels,
            });
        }
        check_len(
            &format!("{name}.weight"),
            &[
                conv.out_channels,
                conv.in_channels,
                conv.kernel,
                conv.kernel,
            ],
            &conv.weight,
        )?;
        check_len(&format!("{name}.bias"), &[conv.out_channels], &conv.bias)?;
        Ok(conv.out_channels)
    }

    /// A `Conv` node reading `input`; returns the name of its output.
    fn conv(&mut self, name: &str, conv: &Conv, input: &str) -> String {
        let k = conv.kernel;
        let p = k / 2;
        let w = format!("{name}.weight");
        let b = format!("{name}.bias");
        self.initializers.push(tensor(
            &w,
            &[conv.out_channels, conv.in_channels, k, k],
            &conv.weight,
        ));
        self.initializers
            .push(tensor(&b, &[conv.out_channels], &conv.bias));
        self.node(
            "Conv",
            name,
            &[input, &w, &b],
            name,
            vec![
                ints("kernel_shape", &[k, k]),
                ints("pads", &[p, p, p, p]),
                ints("strides", &[1, 1]),
            ],
        );
        name.to_string()
    }

    /// A `Relu` node named and writing `name`.
    fn relu(&mut self, name: &str, input: &str) -> String {
        self.node("Relu", name, &[input], name, Vec::new());
        name.to_string()
    }

    /// A checked initializer; returns its name.
    fn initializer(
        &mut self,
        name: &str,
        shape: &[i64],
        values: &[f32],
    ) -> Result<String, OnnxError> {
        check_len(name, shape, values)?;
        self.initializers.push(tensor(name, shape, values));
        Ok(name.to_string())
    }

    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: name.to_string(),
            op_type: op.to_string(),
            attribute,
        });
    }
}

fn check_len(name: &str, shape: &[i64], values: &[f32]) -> Result<(), OnnxError> {
    let expected = shape.iter().map(|&d| d.max(0) as usize).product::<usize>();
    if values.len() != expected {
        return Err(OnnxError::Length {
            name: name.into(),
            shape: shape.to_vec(),
            expected,
            found: values.len(),
        });
    }
    Ok(())
}

fn tensor(name: &str, shape: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: shape.to_vec(),
        data_type: proto::FLOAT,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// A float tensor value; a negative size is the symbolic `batch` dimension.
fn tensor_value(name: &str, shape: &[i64]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 {
                proto::dimension::Value::DimParam("batch".into())
            } else {
                proto::dimension::Value::DimValue(d)
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: proto::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: String::new(),
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: value,
        ints: Vec::new(),
        r#type: proto::ATTRIBUTE_INT,
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: 0,
        ints: values.to_vec(),
        r#type: proto::ATTRIBUTE_INTS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(cin: i64, cout: i64, k: i64) -> Conv {
        let n = (cout * cin * k * k) as usize;
        Conv {
            out_channels: cout,
            in_channels: cin,
            kernel: k,
            weight: (0..n).map(|i| i as f32 * 0.5).collect(),
            bias: vec![0.25; cout as usize],
        }
    }

    /// conv2_res-shaped: conv 1->2, residual on 2, pool, conv 2->4, pool, linear 4*7*7->10.
    fn small() -> Network {
        Network {
            input: [1, 28, 28],
            stages: vec![
                Stage::Conv(conv(1, 2, 3)),
                Stage::Residual {
                    first: conv(2, 2, 3),
                    second: conv(2, 2, 3),
                },
                Stage::MaxPool,
                Stage::Conv(conv(2, 4, 3)),
                Stage::MaxPool,
            ],
            classifier: Linear {
                outputs: 10,
                inputs: 4 * 7 * 7,
                weight: vec![1.0; 10 * 4 * 7 * 7],
                bias: vec![0.0; 10],
            },
        }
    }

    #[test]
    fn a_network_round_trips_with_its_nodes_weights_and_metadata() {
        let about = About {
            name: "net".into(),
            description: "a test".into(),
            producer_version: "0.1.0".into(),
            metadata: vec![("trial_id".into(), "abc".into())],
        };
        let bytes = encode(&small(), &about).unwrap();
        let model = decode(&bytes).unwrap();
        assert_eq!(model.ir_version, IR_VERSION);
        assert_eq!(model.opset_import[0].version, OPSET);
        assert_eq!(model.producer_name, PRODUCER);
        assert_eq!(model.metadata_props[0].key, "trial_id");
        let graph = model.graph.unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            [
                "Conv", "Relu", "Conv", "Relu", "Conv", "Add", "Relu", "MaxPool", "Conv", "Relu",
                "MaxPool", "Flatten", "Gemm"
            ]
        );
        // The residual adds the block's input (conv1's ReLU) back.
        let add = graph.node.iter().find(|n| n.op_type == "Add").unwrap();
        assert_eq!(add.input, ["res1.conv2", "conv1.relu"]);
        assert_eq!(graph.node.last().unwrap().output, [OUTPUT]);
        assert_eq!(graph.node[0].input[0], INPUT);
        // Weights are stored as they were given, little-endian.
        let w = &graph.initializer[0];
        assert_eq!(w.name, "conv1.weight");
        assert_eq!(w.dims, [2, 1, 3, 3]);
        assert_eq!(&w.raw_data[4..8], &0.5f32.to_le_bytes());
        // The batch dimension is symbolic, the rest fixed.
        let dims = &graph.input[0]
            .r#type
            .as_ref()
            .unwrap()
            .tensor_type
            .as_ref()
            .unwrap()
            .shape
            .as_ref()
            .unwrap()
            .dim;
        assert_eq!(
            dims[0].value,
            Some(proto::dimension::Value::DimParam("batch".into()))
        );
        assert_eq!(dims[3].value, Some(proto::dimension::Value::DimValue(28)));
        let pads = &graph.node[0].attribute[1];
        assert_eq!(
            (pads.name.as_str(), pads.ints.as_slice()),
            ("pads", &[1, 1, 1, 1][..])
        );
    }

    #[test]
    fn shapes_that_do_not_chain_are_refused_with_the_layer_named() {
        let mut net = small();
        net.stages[3] = Stage::Conv(conv(3, 4, 3));
        assert_eq!(
            encode(&net, &About::default()),
            Err(OnnxError::Chain {
                name: "conv2".into(),
                expected: 3,
                found: 2
            })
        );
        let mut net = small();
        net.classifier.inputs = 4 * 14 * 14;
        assert!(matches!(
            encode(&net, &About::default()),
            Err(OnnxError::Chain { name, .. }) if name == "classifier"
        ));
        let mut net = small();
        if let Stage::Conv(c) = &mut net.stages[0] {
            c.weight.pop();
        }
        let err = encode(&net, &About::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conv1.weight: 17 values for shape [2, 1, 3, 3] (18 expected)"
        );
        let mut net = small();
        net.stages[0] = Stage::Conv(conv(1, 2, 2));
        assert!(matches!(
            encode(&net, &About::default()),
            Err(OnnxError::Kernel { kernel: 2, .. })
        ));
    }
}
