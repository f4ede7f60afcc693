"""`jax`: the same MLP, loss and optimizer as a `jax.jit`-compiled step - what a CPU user might pick
instead of PyTorch. A peer for the benchmarks, not one of the project's engines (ENGINES): it needs
the `peers` extra (`pip install -e '.[peers]'`).

The weights start as SimpleNet's (the same seed gives the same weights as every engine), then live
in jax arrays; `state_dict` and `predict` copy them back into the torch model. A batch crosses from
torch to jax once (x through DLPack, no copy; y as int32, or int64 in float64 mode). SGD (momentum, weight decay) and Adam / AdamW
follow torch.optim's update rules line for line (`optim/` derives them), so the per-step losses
match the other engines' to rounding. Float64 turns on jax's 64-bit mode for the process.
With `MLPConfig.precision` 'bf16' each product reads its operands as bfloat16 and sums in float32
(`jnp.dot(..., preferred_element_type=float32)`), autocast's semantics; its gradients come from jax's
autodiff of that, which rounds the products' cotangents to bf16 as autocast's backward does.
"""
from __future__ import annotations

import torch

from .base import Engine


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise ValueError("engine: 'jax' needs the jax package: pip install -e '.[peers]'") from None
    return jax, jnp


def jax_activations(jax, jnp) -> dict:
    """functional.ACTIVATIONS' names in jax (a test holds the keys to the same table)."""
    return {"relu": jax.nn.relu, "gelu": lambda z: jax.nn.gelu(z, approximate=False),
            "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True), "tanh": jnp.tanh,
            "sigmoid": jax.nn.sigmoid, "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01),
            "identity": lambda z: z}


class JaxEngine(Engine):
    name = "jax"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        jax, jnp = _jax()
        if self.device.type != "cpu":
            raise ValueError(f"device: the jax engine runs on the CPU here, got {self.device}")
        if self.dtype == torch.float64:
            jax.config.update("jax_enable_x64", True)
        group = self.optimizer.param_groups[0]
        self.kind = type(self.optimizer).__name__
        if self.kind not in ("SGD", "Adam", "AdamW") or group.get("nesterov") or group.get("dampening") or \
                group.get("amsgrad") or group.get("maximize"):
            raise ValueError(f"optimizer: the jax engine has SGD (momentum, weight decay) and Adam/AdamW, got "
                             f"{self.kind} with {({k: group[k] for k in ('nesterov', 'dampening', 'amsgrad', 'maximize') if group.get(k)})}")
        if self.config.precision not in ("float32", "bf16"):
            raise ValueError(f"precision: the jax engine runs float32 and bf16 products, got {self.config.precision!r}")
        self.jnp = jnp
        self.params = [jnp.asarray(p.detach().numpy()) for p in self.model.parameters()]   # w1, b1, w2, b2, ...
        copies = 1 if self.kind == "SGD" else 2         # momentum buffers; Adam's m and v (distinct buffers)
        self.state = [jnp.zeros_like(p) for _ in range(copies) for p in self.params]
        self.t = 0
        # donate the weights and optimizer state: XLA updates them in place instead of allocating anew
        self._step_fn = jax.jit(self._make_step(jax, jnp, group, self.config.activation), donate_argnums=(0, 1))
        self._fresh = True                     # the torch model holds the current weights
        self._batch = (None, None, None)       # (key, x, y): the last batch as jax arrays

    def _make_step(self, jax, jnp, group, activation):
        act = jax_activations(jax, jnp)[activation]
        lr, wd = group["lr"], group["weight_decay"]
        n = len(self.params)
        if self.config.precision == "bf16":       # (N, I) x (O, I) -> (N, O): bf16 operands, float32 sums
            def linear(h, w):
                return jnp.dot(h.astype(jnp.bfloat16), w.T.astype(jnp.bfloat16), preferred_element_type=jnp.float32)
        else:
            def linear(h, w):
                return h @ w.T

        def loss_fn(params, x, y):
            h = x
            for k in range(0, n - 2, 2):
                h = act(linear(h, params[k]) + params[k + 1])
            logits = linear(h, params[n - 2]) + params[n - 1]
            logp = jax.nn.log_softmax(logits, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        if self.kind == "SGD":
            mu = group["momentum"]

            def step(params, state, t, x, y):
                loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
                new_p, new_b = [], []
                for p, g, b in zip(params, grads, state):
                    g = g + wd * p if wd else g
                    b = mu * b + g if mu else g          # zeros at first: b = g, as torch's first step
                    new_p.append(p - lr * b)
                    new_b.append(b)
                return loss, new_p, new_b
            return step

        beta1, beta2 = group["betas"]
        eps, decoupled = group["eps"], self.kind == "AdamW" or group.get("decoupled_weight_decay", False)

        def step(params, state, t, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            ms, vs = state[:n], state[n:]
            new_p, new_m, new_v = [], [], []
            for p, g, m, v in zip(params, grads, ms, vs):
                if wd:
                    if decoupled:
                        p = p * (1 - lr * wd)
                    else:
                        g = g + wd * p
                m = m + (1 - beta1) * (g - m)
                v = beta2 * v + (1 - beta2) * g * g
                step_size = lr / (1 - beta1 ** t)
                denom = jnp.sqrt(v) / jnp.sqrt(1 - beta2 ** t) + eps
                new_p.append(p - step_size * m / denom)
                new_m.append(m)
                new_v.append(v)
            return loss, new_p, new_m + new_v
        return step

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        xj, yj = self._as_jax(x, y)
        self.t += 1
        loss, self.params, self.state = self._step_fn(self.params, self.state, self.t, xj, yj)
        self._fresh = False
        return torch.from_dlpack(loss)

    def _as_jax(self, x: torch.Tensor, y: torch.Tensor):
        """The batch as jax arrays, through DLPack. The same tensors, unmodified since (their version
        counters say so), give the arrays of the last step: a jax user keeps a resident batch as jax
        arrays and would not convert it each step (the conversion costs a tenth of the step: RESULTS.md,
        "the measurements behind the code's comments")."""
        key = (x.data_ptr(), x._version, tuple(x.shape), y.data_ptr(), y._version)
        if self._batch[0] != key:
            jnp = self.jnp
            xj = jnp.from_dlpack(x.reshape(x.shape[0], -1).contiguous())
            yj = jnp.asarray(y.numpy().astype("int64" if self.dtype == torch.float64 else "int32"))
            self._batch = (key, xj, yj)
        return self._batch[1], self._batch[2]

    def _sync(self) -> None:
        """Copy the jax weights into the torch model (for predict and state_dict)."""
        if self._fresh:
            return
        with torch.no_grad():
            for p, q in zip(self.model.parameters(), self.params):
                p.copy_(torch.from_dlpack(q))
        self._fresh = True

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self._sync()
        return super().predict(x)

    def state_dict(self) -> dict:
        self._sync()
        return {"engine": self.name, "model": self.model.state_dict(), "optimizer": {}}

    def load_state_dict(self, sd: dict) -> None:
        raise ValueError("the jax engine is a benchmark peer: it does not load checkpoints")
