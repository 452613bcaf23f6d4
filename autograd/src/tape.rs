//! The tape (a Wengert list), variables, parameters and gradients.
//!
//! Every op applied to variables appends one entry to the tape: the op, the tensors it saved
//! and which entries its inputs came from. [`Tape::backward`] walks the entries once, in
//! reverse, and accumulates each entry's output gradient into its inputs' gradients (a
//! variable used twice receives the sum). Because the tape records what actually ran, the
//! graph may come from any Rust code: loops, branches, recursion.
//!
//! Parameters ([`Param`]) live outside any tape and are bound to a fresh tape each step with
//! [`Tape::param`]; the tape is dropped (or [`reset`](Tape::reset)) after the step, so
//! memory does not grow from step to step.

use crate::anomaly::Anomaly;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::op::{BackwardContext, CustomOp, ReluRule, Saved};
use crate::shape::Shape;
use crate::tensor::Tensor;
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Index;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The identity of a [`Param`], unique within the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(u64);

/// A trainable tensor that outlives tapes: bind it to each step's tape with
/// [`Tape::param`], read its gradient with `grads[&param]`, and update it in place.
///
/// Cloning a parameter gives a new, independent parameter (a new id) with the same value.
#[derive(Debug)]
pub struct Param<T: Element = f32> {
    id: ParamId,
    value: Tensor<T>,
}

impl<T: Element> Param<T> {
    /// A new parameter holding `value`.
    pub fn new(value: Tensor<T>) -> Self {
        Param {
            id: ParamId(next_id()),
            value,
        }
    }

    /// Its identity.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// Its current value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// Its value, for updating in place (an optimizer step).
    pub fn value_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }

    /// Replaces its value by one of the same shape.
    pub fn set(&mut self, value: Tensor<T>) -> Result<()> {
        if value.shape() != self.value.shape() {
            return Err(Error::shapes(
                "Param::set",
                self.value.shape(),
                value.shape(),
                "a parameter keeps its shape",
            ));
        }
        self.value = value;
        Ok(())
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
}

impl<T: Element> Clone for Param<T> {
    fn clone(&self) -> Self {
        Param::new(self.value.clone())
    }
}

enum Entry<T: Element> {
    /// A variable made by [`Tape::var`] or [`Tape::param`].
    Leaf,
    /// The output of an op.
    Op {
        op: Box<dyn CustomOp<T>>,
        saved: Saved<T>,
        inputs: SmallVec<[Option<usize>; 4]>,
    },
}

struct Node<T: Element> {
    entry: Entry<T>,
    shape: Shape,
    keep_grad: bool,
}

/// A Wengert list: the record of the ops applied to its variables, for one backward pass.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![3.0], &[1]).unwrap());
/// // y = x² + x, built by ordinary Rust
/// let y = &(&x * &x) + &x;
/// let grads = tape.backward(&y.sum()).unwrap();
/// assert_eq!(grads[&x].to_vec(), vec![7.0]); // 2x + 1
/// ```
pub struct Tape<T: Element = f32> {
    id: u64,
    nodes: RefCell<Vec<Node<T>>>,
    params: RefCell<HashMap<ParamId, usize>>,
    recording: Cell<bool>,
    relu_rule: Cell<ReluRule>,
    frozen_params: Cell<bool>,
    anomaly: Anomaly,
}

impl<T: Element> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Tape<T> {
    /// An empty tape that records.
    pub fn new() -> Self {
        Tape {
            id: next_id(),
            nodes: RefCell::new(Vec::new()),
            params: RefCell::new(HashMap::new()),
            recording: Cell::new(true),
            relu_rule: Cell::new(ReluRule::Gradient),
            frozen_params: Cell::new(false),
            anomaly: Anomaly::new(),
        }
    }

    /// Switches anomaly mode ([`crate::anomaly`]): with `true`, every op's output is checked
    /// for a NaN or an infinity (the first one found is kept and returned by the next
    /// backward pass, and by [`anomaly`](Self::anomaly)), and every gradient of a backward
    /// pass too (the pass fails there). Off unless set, or unless
    /// [`anomaly::set_detect_anomaly`](crate::anomaly::set_detect_anomaly) was.
    pub fn detect_anomaly(&self, on: bool) {
        self.anomaly.on.set(on);
    }

    /// Whether anomaly mode is on.
    pub fn detects_anomaly(&self) -> bool {
        self.anomaly.on.get()
    }

    /// The first anomaly a forward op met on this tape since it was made or reset
    /// ([`Error::NonFinite`]).
    pub fn anomaly(&self) -> Option<Error> {
        self.anomaly.first()
    }

    /// A tape in no-grad mode: ops compute their values and record nothing (evaluation).
    pub fn no_grad() -> Self {
        let t = Self::new();
        t.recording.set(false);
        t
    }

    /// Whether ops applied now are recorded.
    pub fn is_recording(&self) -> bool {
        self.recording.get()
    }

    /// Runs `f` with recording switched off (no-grad mode), then restores the previous mode.
    pub fn without_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Cell<bool>, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Restore(&self.recording, self.recording.replace(false));
        f()
    }

    /// Chooses what every ReLU sends back in this tape's backward passes, fused ReLUs
    /// included (see [`ReluRule`]); [`ReluRule::Gradient`], the derivative, unless set.
    /// It stays set across [`reset`](Self::reset).
    ///
    /// ```
    /// use autograd::{ReluRule, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]).unwrap());
    /// let y = x.relu();
    /// let r = Tensor::from_vec(vec![5.0, -3.0], &[2]).unwrap();
    /// assert_eq!(tape.backward_with(&y, r.clone()).unwrap()[&x].to_vec(), [0.0, -3.0]);
    /// tape.set_relu_rule(ReluRule::Deconvnet);
    /// assert_eq!(tape.backward_with(&y, r.clone()).unwrap()[&x].to_vec(), [5.0, 0.0]);
    /// tape.set_relu_rule(ReluRule::Guided);
    /// assert_eq!(tape.backward_with(&y, r).unwrap()[&x].to_vec(), [0.0, 0.0]);
    /// ```
    pub fn set_relu_rule(&self, rule: ReluRule) {
        self.relu_rule.set(rule);
    }

    /// With `true`, parameters bound from now on ([`param`](Self::param)) are constants:
    /// backward passes compute only the gradients of variables, skipping every `dW` and
    /// `db` (what input attributions want). `grads[&param]` is then not available.
    pub fn set_params_frozen(&self, frozen: bool) {
        self.frozen_params.set(frozen);
    }

    /// Whether parameters bound now are constants ([`set_params_frozen`](Self::set_params_frozen)).
    pub fn params_frozen(&self) -> bool {
        self.frozen_params.get()
    }

    /// The ReLU rule of this tape's backward passes.
    pub fn relu_rule(&self) -> ReluRule {
        self.relu_rule.get()
    }

    /// The number of entries recorded (leaves and ops).
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes held by all entries' saved tensors.
    pub fn saved_bytes(&self) -> usize {
        self.nodes
            .borrow()
            .iter()
            .map(|n| match &n.entry {
                Entry::Op { saved, .. } => saved.bytes(),
                Entry::Leaf => 0,
            })
            .sum()
    }

    /// Forgets every entry, keeping the allocation, so the tape can serve the next step.
    pub fn reset(&mut self) {
        self.nodes.get_mut().clear();
        self.params.get_mut().clear();
        self.anomaly.reset();
    }

    fn push_leaf(&self, shape: &[usize]) -> usize {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node {
            entry: Entry::Leaf,
            shape: Shape::from_slice(shape),
            keep_grad: true,
        });
        nodes.len() - 1
    }

    /// A variable whose gradient `backward` computes (in no-grad mode, a constant).
    pub fn var(&self, value: Tensor<T>) -> Var<'_, T> {
        let node = self.is_recording().then(|| self.push_leaf(value.shape()));
        Var {
            tape: self,
            value,
            node,
        }
    }

    /// A variable that never receives a gradient (data, labels, masks).
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        Var {
            tape: self,
            value,
            node: None,
        }
    }

    /// Binds a parameter to this tape: a variable holding its current value, whose gradient
    /// is `grads[&param]` after `backward`. Binding it again returns the same variable. In
    /// no-grad mode, or with parameters frozen, it is a constant.
    pub fn param(&self, param: &Param<T>) -> Var<'_, T> {
        if !self.is_recording() || self.params_frozen() {
            return self.constant(param.value.clone());
        }
        let existing = self.params.borrow().get(&param.id).copied();
        let node = existing.unwrap_or_else(|| {
            let n = self.push_leaf(param.value.shape());
            self.params.borrow_mut().insert(param.id, n);
            n
        });
        Var {
            tape: self,
            value: param.value.clone(),
            node: Some(node),
        }
    }

    /// Keeps the gradient of an intermediate variable after `backward` (leaves always keep
    /// theirs), so it can be read with `grads[&var]`.
    pub fn retain_grad(&self, var: &Var<'_, T>) {
        if let Some(n) = var.node {
            self.nodes.borrow_mut()[n].keep_grad = true;
        }
    }

    /// Applies an op to variables of this tape, recording it if any input needs a gradient.
    pub fn apply<'t, O: CustomOp<T>>(&'t self, mut op: O, inputs: &[&Var<'t, T>]) -> Result<Var<'t, T>> {
        if inputs.iter().any(|v| !std::ptr::eq(v.tape, self)) {
            return Err(Error::ForeignTape {
                op: op.name().to_string(),
            });
        }
        let record = self.is_recording() && inputs.iter().any(|v| v.node.is_some());
        let values: SmallVec<[&Tensor<T>; 4]> = inputs.iter().map(|v| &v.value).collect();
        let mut saved = Saved::new(record);
        let value = op.forward(&values, &mut saved)?;
        if self.anomaly.on.get() {
            self.anomaly
                .check_forward(op.name(), self.len(), &values, &value, record);
        }
        if !record {
            return Ok(Var {
                tape: self,
                value,
                node: None,
            });
        }
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node {
            entry: Entry::Op {
                op: Box::new(op),
                saved,
                inputs: inputs.iter().map(|v| v.node).collect(),
            },
            shape: Shape::from_slice(value.shape()),
            keep_grad: false,
        });
        let node = Some(nodes.len() - 1);
        Ok(Var {
            tape: self,
            value,
            node,
        })
    }

    /// Reverse mode from a scalar (one-element) output, usually the loss: `dL/dL = 1`.
    pub fn backward(&self, loss: &Var<'_, T>) -> Result<Gradients<T>> {
        if loss.value.numel() != 1 {
            return Err(Error::Backward {
                why: format!(
                    "the output has shape {:?}; backward starts from a one-element output (use backward_with for a vector-Jacobian product)",
                    loss.value.shape()
                ),
            });
        }
        self.backward_with(loss, Tensor::ones(loss.value.shape()))
    }

    /// Reverse mode from any output with a given output gradient: computes the
    /// vector-Jacobian product `grad_output · dy/dx` for every leaf `x`.
    pub fn backward_with(&self, output: &Var<'_, T>, grad_output: Tensor<T>) -> Result<Gradients<T>> {
        if !std::ptr::eq(output.tape, self) {
            return Err(Error::ForeignTape {
                op: "backward".into(),
            });
        }
        if grad_output.shape() != output.value.shape() {
            return Err(Error::shapes(
                "backward",
                output.value.shape(),
                grad_output.shape(),
                "the output gradient must have the output's shape",
            ));
        }
        let anomaly = self.anomaly.on.get();
        if let Some(e) = self.anomaly().filter(|_| anomaly) {
            return Err(e);
        }
        let nodes = self.nodes.borrow();
        let ctx = BackwardContext::default().with_relu_rule(self.relu_rule());
        let mut grads: Vec<Option<Tensor<T>>> = vec![None; nodes.len()];
        if let Some(root) = output.node {
            grads[root] = Some(grad_output);
            for i in (0..=root).rev() {
                let Some(g) = grads[i].take() else { continue };
                let node = &nodes[i];
                if let Entry::Op { op, saved, inputs } = &node.entry {
                    let needs: SmallVec<[bool; 4]> = inputs.iter().map(Option::is_some).collect();
                    let input_grads = op.backward_with_context(&ctx, saved, &g, &needs)?;
                    if input_grads.len() != inputs.len() {
                        return Err(Error::Backward {
                            why: format!(
                                "{} returned {} gradients for {} inputs",
                                op.name(),
                                input_grads.len(),
                                inputs.len()
                            ),
                        });
                    }
                    for (slot, (input, ig)) in inputs.iter().zip(input_grads).enumerate() {
                        let (Some(j), Some(ig)) = (*input, ig) else {
                            continue;
                        };
                        if anomaly {
                            self.anomaly.check_gradient(op.name(), i, slot, &ig)?;
                        }
                        if ig.shape() != nodes[j].shape.as_slice() {
                            return Err(Error::Backward {
                                why: format!(
                                    "{} returned a gradient of shape {:?} for input {slot} of shape {:?}",
                                    op.name(),
                                    ig.shape(),
                                    nodes[j].shape.as_slice()
                                ),
                            });
                        }
                        match &mut grads[j] {
                            Some(acc) => acc.add_assign_tensor(&ig)?,
                            empty => *empty = Some(ig),
                        }
                    }
                }
                if node.keep_grad {
                    grads[i] = Some(g);
                }
            }
        }
        // Every leaf has a gradient, zero where the output does not depend on it.
        for (g, node) in grads.iter_mut().zip(nodes.iter()) {
            if g.is_none() && matches!(node.entry, Entry::Leaf) {
                *g = Some(Tensor::zeros(&node.shape));
            }
        }
        Ok(Gradients {
            tape_id: self.id,
            grads,
            params: self.params.borrow().clone(),
        })
    }
}

/// A value on a tape: a tensor plus, when it needs a gradient, the tape entry that made it.
///
/// Cloning is cheap. Variables of one tape cannot be combined with another tape's.
#[derive(Clone)]
pub struct Var<'t, T: Element = f32> {
    tape: &'t Tape<T>,
    value: Tensor<T>,
    node: Option<usize>,
}

impl<'t, T: Element> Var<'t, T> {
    /// The tensor this variable holds.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The tape it lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// Whether gradients flow through it (it was recorded on the tape).
    pub fn requires_grad(&self) -> bool {
        self.node.is_some()
    }

    /// The same value, cut off from the graph: no gradient flows back through it.
    pub fn detach(&self) -> Var<'t, T> {
        Var {
            tape: self.tape,
            value: self.value.clone(),
            node: None,
        }
    }

    /// Applies an op to `inputs` (at least one), on their tape.
    pub fn apply<O: CustomOp<T>>(op: O, inputs: &[&Var<'t, T>]) -> Result<Var<'t, T>> {
        let first = inputs
            .first()
            .ok_or_else(|| Error::invalid(op.name(), &[], "an op needs at least one input variable"))?;
        first.tape.apply(op, inputs)
    }

    /// Another variable of the same tape holding a constant.
    pub fn constant_like(&self, value: Tensor<T>) -> Var<'t, T> {
        self.tape.constant(value)
    }
}

impl<T: Element> std::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Var")
            .field("node", &self.node)
            .field("value", &self.value)
            .finish()
    }
}

/// The gradients of one backward pass: of every leaf (variables and bound parameters), plus
/// intermediates marked with [`Tape::retain_grad`]. Index by variable or by parameter.
pub struct Gradients<T: Element = f32> {
    tape_id: u64,
    grads: Vec<Option<Tensor<T>>>,
    params: HashMap<ParamId, usize>,
}

impl<T: Element> Gradients<T> {
    /// The gradient of a variable, if it was kept.
    pub fn get(&self, var: &Var<'_, T>) -> Option<&Tensor<T>> {
        if var.tape.id != self.tape_id {
            return None;
        }
        var.node.and_then(|n| self.grads.get(n)?.as_ref())
    }

    /// The gradient of a bound parameter; `None` if it was not bound to the tape.
    pub fn param(&self, param: &Param<T>) -> Option<&Tensor<T>> {
        self.params.get(&param.id).and_then(|&n| self.grads[n].as_ref())
    }

    /// The gradient of a bound parameter, for changing in place (clipping, say).
    pub fn param_mut(&mut self, param: &Param<T>) -> Option<&mut Tensor<T>> {
        self.params.get(&param.id).and_then(|&n| self.grads[n].as_mut())
    }

    /// Takes the gradient of a parameter out, leaving `None`.
    pub fn take_param(&mut self, param: &Param<T>) -> Option<Tensor<T>> {
        self.params.get(&param.id).and_then(|&n| self.grads[n].take())
    }
}

impl<T: Element> Index<&Var<'_, T>> for Gradients<T> {
    type Output = Tensor<T>;
    /// # Panics
    /// If the variable is not of this pass's tape, is a constant, or is an intermediate whose
    /// gradient was not retained; [`Gradients::get`] returns `None` instead.
    fn index(&self, var: &Var<'_, T>) -> &Tensor<T> {
        self.get(var).unwrap_or_else(|| {
            if var.tape.id != self.tape_id {
                panic!("gradients: the variable belongs to another tape")
            } else if var.node.is_none() {
                panic!("gradients: the variable is a constant (made in no-grad mode, detached, or from constants only)")
            } else {
                panic!("gradients: the variable is an intermediate; call tape.retain_grad(&v) before backward to keep its gradient")
            }
        })
    }
}

impl<T: Element> Index<&Param<T>> for Gradients<T> {
    type Output = Tensor<T>;
    /// # Panics
    /// If the parameter was not bound to the tape; [`Gradients::param`] returns `None`.
    fn index(&self, param: &Param<T>) -> &Tensor<T> {
        self.param(param)
            .unwrap_or_else(|| panic!("gradients: parameter {:?} was not bound to the tape", param.id))
    }
}
