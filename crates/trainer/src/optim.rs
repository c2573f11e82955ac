//! Adam and SGD with momentum, written out over tensors so that their state can be saved
//! in checkpoints (tch's built-in optimisers do not expose it). The update rules are
//! PyTorch's (`torch.optim.Adam`, `torch.optim.SGD(momentum=m)`, L2 weight decay added to
//! the gradient).

use crate::config::{OptimizerConfig, OptimizerKind};
use std::path::Path;
use tch::Tensor;

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// An optimiser over a fixed list of parameters.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    params: Vec<Tensor>,
    /// Adam: first moments; SGD: momentum buffers.
    first: Vec<Tensor>,
    /// Adam: second moments; unused for SGD.
    second: Vec<Tensor>,
    steps: i64,
    lr: f64,
}

impl Optimizer {
    /// An optimiser for `params` (the trainable variables of a var store).
    pub fn new(config: &OptimizerConfig, params: Vec<Tensor>) -> Self {
        let zeros = |ps: &[Tensor]| ps.iter().map(Tensor::zeros_like).collect::<Vec<_>>();
        let first = zeros(&params);
        let second = match config.name {
            OptimizerKind::Adam => zeros(&params),
            OptimizerKind::Sgd => Vec::new(),
        };
        Optimizer {
            lr: config.lr,
            config: config.clone(),
            params,
            first,
            second,
            steps: 0,
        }
    }

    /// Sets the learning rate (the schedule calls this once per epoch).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Clears the gradients of every parameter.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update from the current gradients.
    pub fn step(&mut self) {
        self.steps += 1;
        let wd = self.config.weight_decay;
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let grad = self.params[i].grad();
                if !grad.defined() {
                    continue;
                }
                let grad = if wd != 0.0 {
                    grad + &self.params[i] * wd
                } else {
                    grad
                };
                match self.config.name {
                    OptimizerKind::Adam => self.adam(i, &grad),
                    OptimizerKind::Sgd => self.sgd(i, &grad),
                }
            }
        });
    }

    fn adam(&mut self, i: usize, grad: &Tensor) {
        let t = self.steps as i32;
        let m = &mut self.first[i];
        *m *= BETA1;
        *m += grad * (1.0 - BETA1);
        let v = &mut self.second[i];
        *v *= BETA2;
        *v += grad * grad * (1.0 - BETA2);
        let bias1 = 1.0 - BETA1.powi(t);
        let bias2 = 1.0 - BETA2.powi(t);
        let denom = self.second[i].sqrt() / bias2.sqrt() + EPS;
        let update = &self.first[i] / denom * (self.lr / bias1);
        self.params[i] -= update;
    }

    fn sgd(&mut self, i: usize, grad: &Tensor) {
        let momentum = self.config.momentum;
        let buf = &mut self.first[i];
        if momentum == 0.0 {
            self.params[i] -= grad * self.lr;
            return;
        }
        if self.steps == 1 {
            buf.copy_(grad);
        } else {
            *buf *= momentum;
            *buf += grad;
        }
        let update = &self.first[i] * self.lr;
        self.params[i] -= update;
    }

    /// Saves the optimiser state (moments, step count, learning rate) to `path`.
    pub fn save(&self, path: &Path) -> Result<(), tch::TchError> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, t) in self.first.iter().enumerate() {
            named.push((format!("first.{i}"), t.shallow_clone()));
        }
        for (i, t) in self.second.iter().enumerate() {
            named.push((format!("second.{i}"), t.shallow_clone()));
        }
        named.push(("steps".into(), Tensor::from(self.steps)));
        named.push(("lr".into(), Tensor::from(self.lr)));
        Tensor::save_multi(&named, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// Minimises (x - 3)^2 and checks the first Adam step against the closed form: the
    /// first update of Adam is lr * sign(grad) (up to eps).
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let x = Tensor::from_slice(&[0.0f64]).set_requires_grad(true);
        let config = OptimizerConfig {
            lr: 0.1,
            ..OptimizerConfig::default()
        };
        let mut opt = Optimizer::new(&config, vec![x.shallow_clone()]);
        let loss = (&x - 3.0).pow_tensor_scalar(2).sum(Kind::Double);
        opt.zero_grad();
        loss.backward();
        opt.step();
        assert!((x.double_value(&[0]) - 0.1).abs() < 1e-6);
    }

    #[test]
    fn sgd_momentum_matches_pytorch_rule() {
        let x = Tensor::from_slice(&[1.0f64]).set_requires_grad(true);
        let config = OptimizerConfig {
            name: OptimizerKind::Sgd,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
        };
        let mut opt = Optimizer::new(&config, vec![x.shallow_clone()]);
        // loss = 2x: gradient 2 every step. Buffers: 2, then 0.9*2+2 = 3.8.
        for _ in 0..2 {
            opt.zero_grad();
            (&x * 2.0).sum(Kind::Double).backward();
            opt.step();
        }
        let expected = 1.0 - 0.1 * 2.0 - 0.1 * 3.8;
        assert!((x.double_value(&[0]) - expected).abs() < 1e-12);
    }

    #[test]
    fn adam_converges_on_a_quadratic() {
        let x = Tensor::from_slice(&[0.0f64]).set_requires_grad(true);
        let config = OptimizerConfig {
            lr: 0.1,
            ..OptimizerConfig::default()
        };
        let mut opt = Optimizer::new(&config, vec![x.shallow_clone()]);
        for _ in 0..500 {
            opt.zero_grad();
            (&x - 3.0).pow_tensor_scalar(2).sum(Kind::Double).backward();
            opt.step();
        }
        assert!((x.double_value(&[0]) - 3.0).abs() < 1e-2);
    }
}
