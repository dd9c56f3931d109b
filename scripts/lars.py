"""LARS as the DINO and MoCo v3 repositories define it (written from their formula), shared by
the fixture scripts: for parameters of rank > 1 weight decay is added to the gradient and the
update scaled by the trust ratio eta·‖p‖/‖d‖; then mu ← momentum·mu + d, p ← p − lr·mu."""
import torch


class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr=0, weight_decay=0, momentum=0.9, eta=0.001):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim != 1:
                    d = d.add(p, alpha=g["weight_decay"])
                    pn, un = torch.norm(p), torch.norm(d)
                    d = d.mul(torch.where(pn > 0, torch.where(un > 0, g["eta"] * pn / un, 1.0), 1.0))
                mu = self.state[p].setdefault("mu", torch.zeros_like(p))
                mu.mul_(g["momentum"]).add_(d)
                p.add_(mu, alpha=-g["lr"])
