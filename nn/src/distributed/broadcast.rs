//! Rank 0's tensors to every process: a model's parameters at the start (so that all
//! processes train the same model), an optimizer's state on resume.

use super::{Context, DistributedError};
use crate::layers::Module;
use crate::train::optim::{Optimizer, OptimizerState};
use autograd::{Element, Tensor};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `name\tshape` lines: what the processes must agree on before the values can be sent.
fn layout<'a, T: Element>(tensors: impl IntoIterator<Item = (&'a String, &'a Tensor<T>)>) -> String {
    let mut s = String::new();
    for (name, t) in tensors {
        let _ = writeln!(s, "{name}\t{:?}", t.shape());
    }
    s
}

/// The first line where `ours` and rank 0's `theirs` differ, for the error.
fn first_difference(ours: &str, theirs: &str) -> String {
    let (mut a, mut b) = (ours.lines(), theirs.lines());
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let show =
                    |l: Option<&str>| l.map_or("nothing".to_string(), |l| l.replace('\t', " with shape "));
                return format!("this process has {}, rank 0 has {}", show(x), show(y));
            }
        }
    }
}

impl Context {
    /// Sets every process's `tensors` to rank 0's, in one flat broadcast. All processes
    /// must hold the same names and shapes in the same order; when one does not, all get
    /// the same error naming the first difference (`what` says which tensors).
    ///
    /// ```
    /// use autograd::Tensor;
    /// let ctx = nn::distributed::Context::single();
    /// let mut w = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    /// ctx.broadcast_tensors("weights", vec![("w".to_string(), &mut w)]).unwrap();
    /// assert_eq!(w.to_vec(), [1.0, 2.0]);
    /// ```
    pub fn broadcast_tensors<T: Element>(
        &self,
        what: &str,
        mut tensors: Vec<(String, &mut Tensor<T>)>,
    ) -> Result<(), DistributedError> {
        if self.size() == 1 {
            return Ok(());
        }
        let ours = layout(tensors.iter().map(|(n, t)| (n, &**t)));
        let mut root = ours.clone().into_bytes();
        self.broadcast_bytes(0, &mut root);
        let theirs = String::from_utf8_lossy(&root);
        let same = if ours == theirs {
            Ok(())
        } else {
            Err(format!(
                "distributed::broadcast_tensors ({what}): {}",
                first_difference(&ours, &theirs)
            ))
        };
        self.agree(same)?;
        let total = tensors.iter().map(|(_, t)| t.numel()).sum();
        let mut flat = Vec::with_capacity(total);
        if self.is_root() {
            tensors
                .iter()
                .for_each(|(_, t)| flat.extend_from_slice(t.as_slice()));
        } else {
            flat.resize(total, T::ZERO);
        }
        self.broadcast_values(0, &mut flat);
        if !self.is_root() {
            let mut rest = &flat[..];
            for (_, t) in tensors.iter_mut() {
                let (mine, after) = rest.split_at(t.numel());
                t.as_mut_slice().copy_from_slice(mine);
                rest = after;
            }
        }
        Ok(())
    }

    /// Sets every process's model to rank 0's: its parameters (the state that batch-norm
    /// layers keep outside their parameters would follow them here).
    pub fn broadcast_model<T: Element>(&self, model: &mut dyn Module<T>) -> Result<(), DistributedError> {
        let params = model
            .parameters_mut()
            .into_iter()
            .map(|(name, p)| (name, p.value_mut()))
            .collect();
        self.broadcast_tensors("the model's parameters", params)?;
        // Module buffers (batch norm's running statistics) are state like the parameters.
        self.broadcast_tensors("the model's buffers", model.buffers_mut())
    }

    /// Sets every process's optimizer state (step count, buffers, learning rate) to rank
    /// 0's, whatever state the others had: after rank 0 resumed from a checkpoint.
    pub fn broadcast_optimizer<T: Element>(
        &self,
        optimizer: &mut dyn Optimizer<T>,
    ) -> Result<(), DistributedError> {
        if self.size() == 1 {
            return Ok(());
        }
        // Rank 0's step, learning rate (as bits) and buffer layout, then the values.
        let mut state = optimizer.state();
        let mut header = Vec::new();
        if self.is_root() {
            let text = format!(
                "{}\n{:016x}\n{}",
                state.step,
                optimizer.learning_rate().to_bits(),
                layout(&state.buffers)
            );
            header = text.into_bytes();
        }
        self.broadcast_bytes(0, &mut header);
        let parsed = self.agree(parse_header::<T>(&String::from_utf8_lossy(&header)))?;
        let (step, lr, mut buffers) = parsed;
        if self.is_root() {
            buffers = std::mem::take(&mut state.buffers);
        }
        let tensors = buffers.iter_mut().map(|(n, t)| (n.clone(), t)).collect();
        self.broadcast_tensors("the optimizer's state", tensors)?;
        let loaded = if self.is_root() {
            Ok(())
        } else {
            optimizer.set_learning_rate(lr);
            optimizer.load_state(OptimizerState { step, buffers })
        };
        self.agree(loaded)?;
        Ok(())
    }
}

type Header<T> = (u64, f64, BTreeMap<String, Tensor<T>>);

/// The step, learning rate and zero buffers of [`Context::broadcast_optimizer`]'s header.
fn parse_header<T: Element>(text: &str) -> Result<Header<T>, String> {
    let bad = || format!("distributed::broadcast_optimizer: a malformed header from rank 0: {text:?}");
    let mut lines = text.lines();
    let step = lines.next().and_then(|l| l.parse().ok()).ok_or_else(bad)?;
    let lr_bits = lines
        .next()
        .and_then(|l| u64::from_str_radix(l, 16).ok())
        .ok_or_else(bad)?;
    let mut buffers = BTreeMap::new();
    for line in lines {
        let (name, shape) = line.split_once('\t').ok_or_else(bad)?;
        let dims = shape.trim_start_matches('[').trim_end_matches(']');
        let shape: Vec<usize> = dims
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        buffers.insert(name.to_string(), Tensor::zeros(&shape));
    }
    Ok((step, f64::from_bits(lr_bits), buffers))
}
