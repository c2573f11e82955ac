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
        Tensor::save_multi(&self.named_state(), path)
    }

    /// The state [`Optimizer::save`] writes, as the bytes of that file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, tch::TchError> {
        let mut bytes = Vec::new();
        Tensor::save_multi_to_stream(&self.named_state(), &mut bytes)?;
        Ok(bytes)
    }

    fn named_state(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, t) in self.first.iter().enumerate() {
            named.push((format!("first.{i}"), t.shallow_clone()));
        }
        for (i, t) in self.second.iter().enumerate() {
            named.push((format!("second.{i}"), t.shallow_clone()));
        }
        named.push(("steps".into(), Tensor::from(self.steps)));
        named.push(("lr".into(), Tensor::from(self.lr)));
        named
    }

    /// Restores the state written by [`Optimizer::save`] (moments and step count; the
    /// learning rate is set by the schedule) for the same parameters. Errors name what
    /// does not fit.
    pub fn load(&mut self, path: &Path) -> Result<(), String> {
        let named = Tensor::load_multi(path).map_err(|e| e.to_string())?;
        let mut by_name: std::collections::HashMap<String, Tensor> = named.into_iter().collect();
        let mut take = |name: &str| {
            by_name
                .remove(name)
                .ok_or_else(|| format!("optimiser state lacks `{name}`"))
        };
        let steps = take("steps")?.int64_value(&[]);
        let mut restore = |prefix: &str, into: &mut Vec<Tensor>| -> Result<(), String> {
            for (i, t) in into.iter_mut().enumerate() {
                let saved = take(&format!("{prefix}.{i}"))?;
                if saved.size() != t.size() || saved.kind() != t.kind() {
                    return Err(format!(
                        "`{prefix}.{i}` is {:?} {:?}, expected {:?} {:?}",
                        saved.kind(),
                        saved.size(),
                        t.kind(),
                        t.size()
                    ));
                }
                tch::no_grad(|| t.copy_(&saved));
            }
            Ok(())
        };
        restore("first", &mut self.first)?;
        restore("second", &mut self.second)?;
        let _ = take("lr");
        if let Some(extra) = by_name.keys().next() {
            return Err(format!(
                "optimiser state has `{extra}`, which this optimiser lacks"
            ));
        }
        self.steps = steps;
        Ok(())
    }

    /// Number of updates made so far.
    pub fn steps(&self) -> i64 {
        self.steps
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
    fn save_and_load_continue_exactly() {
        let dir = std::env::temp_dir().join(format!("optim-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("optim.ot");
        for name in [OptimizerKind::Adam, OptimizerKind::Sgd] {
            let config = OptimizerConfig {
                name,
                lr: 0.05,
                momentum: 0.9,
                weight_decay: 0.01,
            };
            let run = |x: &Tensor, opt: &mut Optimizer, n: usize| {
                for _ in 0..n {
                    opt.zero_grad();
                    (x - 3.0).pow_tensor_scalar(2).sum(Kind::Double).backward();
                    opt.step();
                }
            };
            // Straight through: 6 steps.
            let x = Tensor::from_slice(&[0.0f64, 1.0]).set_requires_grad(true);
            let mut opt = Optimizer::new(&config, vec![x.shallow_clone()]);
            run(&x, &mut opt, 6);
            // 3 steps, save, a fresh optimiser loads and makes the other 3.
            let y = Tensor::from_slice(&[0.0f64, 1.0]).set_requires_grad(true);
            let mut first = Optimizer::new(&config, vec![y.shallow_clone()]);
            run(&y, &mut first, 3);
            first.save(&path).unwrap();
            let mut second = Optimizer::new(&config, vec![y.shallow_clone()]);
            second.load(&path).unwrap();
            assert_eq!(second.steps(), 3);
            run(&y, &mut second, 3);
            assert!(x.equal(&y), "{name:?}: {x} vs {y}");
            // The in-memory form is the same file format.
            let bytes_path = dir.join("bytes.ot");
            std::fs::write(&bytes_path, second.to_bytes().unwrap()).unwrap();
            let mut third = Optimizer::new(&config, vec![y.shallow_clone()]);
            third.load(&bytes_path).unwrap();
            assert_eq!(third.steps(), 6);
            // State of another shape is refused with a reason.
            let z = Tensor::from_slice(&[0.0f64]).set_requires_grad(true);
            let mut other = Optimizer::new(&config, vec![z]);
            assert!(other.load(&path).unwrap_err().contains("expected"));
        }
        std::fs::remove_dir_all(&dir).unwrap();
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
