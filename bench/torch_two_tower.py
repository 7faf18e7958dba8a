#!/usr/bin/python3
"""PyTorch peer of bench/train.ts: the same two-tower model, trained on synthetic batches.

    /usr/bin/python3 bench/torch_two_tower.py [--vocabularies 10,100,...] [--dim 16]
        [--towers 64,32] [--batch 1024] [--threads 1,2] [--seconds 3] [--warmup 10]
        [--variants plain/sparse_adam,...] [--embedding-only sparse_adam,adagrad]

Model: per tower one embedding table per group (nn.Embedding or nn.EmbeddingBag, one id
per row), the groups' embeddings concatenated, an MLP (ReLU between layers, last layer
linear), the dot product of the two tower outputs as the logit, BCE-with-logits against
0/1 labels, mean over the batch. The gated model multiplies each group's embedding block
by its gate: softmax over one logit per group (both towers' groups in one softmax, no
group selected), the logits trained with the dense optimizer.

Optimizers (`<model>/<optimizer>`):
  sparse_adam  embeddings sparse=True + torch.optim.SparseAdam; dense weights Adam.
  dense_adam   embeddings with dense gradients, one torch.optim.Adam over everything.
  adagrad      embeddings sparse=True + torch.optim.Adagrad (element-wise: PyTorch has no
               row-wise Adagrad outside FBGEMM/TorchRec); dense weights Adam.

Ids are Zipf(exponent) ranks drawn by inverse CDF, labels Bernoulli(0.5); batches are
generated in memory before timing. Prints one JSON object on its last line, with the BLAS
and LAPACK libraries this process loaded (Debian picks them with update-alternatives or
LD_LIBRARY_PATH).

Before any measurement the process trains and frees a throwaway model (--prewarm-steps).
With glibc's default malloc settings, a process that has not yet freed a large block keeps
mapping and unmapping the step's temporaries (glibc's dynamic mmap threshold is still
128 KiB), and runs up to 2x slower; freeing one large block raises the threshold. Without
the pre-warm only the first variant measured in a process would pay that, so the order of
the variants would change the numbers. MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ in
the environment remove the effect altogether.
"""
import argparse
import json
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as error:  # the caller prints how to install it
    print(json.dumps({"error": f"torch is not importable: {error}", "python": sys.executable}))
    sys.exit(0)

PREPARED_BATCHES = 16


def zipf_ids(n, exponent, size, generator):
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    cdf = torch.cumsum(ranks.pow(-exponent), 0)
    cdf /= cdf[-1].clone()
    u = torch.rand(size, dtype=torch.float64, generator=generator)
    return torch.searchsorted(cdf, u).clamp_(max=n - 1)


def make_batches(vocabularies, batch, exponent, seed):
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(PREPARED_BATCHES):
        user = [zipf_ids(v, exponent, batch, generator) for v in vocabularies]
        item = [zipf_ids(v, exponent, batch, generator) for v in vocabularies]
        labels = (torch.rand(batch, generator=generator) < 0.5).float()
        batches.append((user, item, labels))
    return batches


def mlp(width, units):
    layers = []
    for i, size in enumerate(units):
        layers.append(nn.Linear(width, size))
        if i < len(units) - 1:
            layers.append(nn.ReLU())
        width = size
    return nn.Sequential(*layers)


class Lookup(nn.Module):
    """One table per group; `bag` uses nn.EmbeddingBag (one id per bag) instead of nn.Embedding."""

    def __init__(self, vocabularies, dim, sparse, bag):
        super().__init__()
        self.bag = bag
        if bag:
            self.tables = nn.ModuleList(nn.EmbeddingBag(v, dim, mode="sum", sparse=sparse) for v in vocabularies)
        else:
            self.tables = nn.ModuleList(nn.Embedding(v, dim, sparse=sparse) for v in vocabularies)
        for table in self.tables:
            nn.init.uniform_(table.weight, -0.05, 0.05)

    def forward(self, ids):
        if self.bag:
            return [table(x.view(-1, 1)) for table, x in zip(self.tables, ids)]
        return [table(x) for table, x in zip(self.tables, ids)]


class TwoTower(nn.Module):
    def __init__(self, vocabularies, dim, towers, sparse, gated, bag):
        super().__init__()
        groups = len(vocabularies)
        self.groups = groups
        self.dim = dim
        self.gated = gated
        self.user_lookup = Lookup(vocabularies, dim, sparse, bag)
        self.item_lookup = Lookup(vocabularies, dim, sparse, bag)
        self.user_tower = mlp(groups * dim, towers)
        self.item_tower = mlp(groups * dim, towers)
        self.gate_logits = nn.Parameter(torch.randn(2 * groups) * 1e-5) if gated else None

    def embedding_parameters(self):
        return list(self.user_lookup.parameters()) + list(self.item_lookup.parameters())

    def dense_parameters(self):
        params = list(self.user_tower.parameters()) + list(self.item_tower.parameters())
        return params + ([self.gate_logits] if self.gated else [])

    def forward(self, user_ids, item_ids):
        batch = user_ids[0].shape[0]
        user = torch.stack(self.user_lookup(user_ids), 1)  # [B, groups, dim]
        item = torch.stack(self.item_lookup(item_ids), 1)
        if self.gated:
            gates = torch.softmax(self.gate_logits, 0)
            user = user * gates[: self.groups].view(1, -1, 1)
            item = item * gates[self.groups :].view(1, -1, 1)
        user = self.user_tower(user.reshape(batch, -1))
        item = self.item_tower(item.reshape(batch, -1))
        return (user * item).sum(1)


def optimizers(model, kind, lr, embedding_lr):
    if kind == "dense_adam":
        return [torch.optim.Adam(model.parameters(), lr=lr)]
    dense = torch.optim.Adam(model.dense_parameters(), lr=lr)
    if kind == "sparse_adam":
        return [torch.optim.SparseAdam(model.embedding_parameters(), lr=embedding_lr), dense]
    if kind == "adagrad":
        return [torch.optim.Adagrad(model.embedding_parameters(), lr=embedding_lr), dense]
    raise ValueError(f"unknown optimizer {kind}")


EMBEDDING_LR = {"sparse_adam": 0.001, "dense_adam": 0.001, "adagrad": 0.05}


def time_steps(step, batches, warmup, seconds):
    for i in range(warmup):
        step(batches[i % len(batches)])
    count = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        step(batches[count % len(batches)])
        count += 1
        now = time.perf_counter()
        if now >= end:
            return count, now - start


def train_variant(args, variant, batches):
    model_kind, kind = variant.split("/")
    torch.manual_seed(0)
    model = TwoTower(args.vocabularies, args.dim, args.towers, kind != "dense_adam", model_kind == "gated", args.bag)
    opts = optimizers(model, kind, args.lr, EMBEDDING_LR[kind])
    loss_fn = nn.BCEWithLogitsLoss()

    def step(batch):
        user, item, labels = batch
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(user, item), labels)
        loss.backward()
        for opt in opts:
            opt.step()

    count, seconds = time_steps(step, batches, args.warmup, args.seconds)
    return {"steps": count, "seconds": seconds, "examples_per_second": count * args.batch / seconds}


def embedding_variant(args, kind, batches):
    """nn.EmbeddingBag forward + backward of a fixed output gradient + the sparse optimizer's step."""
    torch.manual_seed(0)
    lookups = [Lookup(args.vocabularies, args.dim, True, True) for _ in range(2)]
    params = [p for lookup in lookups for p in lookup.parameters()]
    opt = (torch.optim.SparseAdam if kind == "sparse_adam" else torch.optim.Adagrad)(params, lr=EMBEDDING_LR[kind])
    generator = torch.Generator().manual_seed(2)
    grads = [(torch.rand(args.batch, args.dim, generator=generator) - 0.5) * 2e-3 for _ in range(2 * len(args.vocabularies))]

    def step(batch):
        user, item, _ = batch
        opt.zero_grad(set_to_none=True)
        outputs = lookups[0](user) + lookups[1](item)
        torch.autograd.backward(outputs, grads)
        opt.step()

    count, seconds = time_steps(step, batches, args.warmup, args.seconds)
    return {"steps": count, "seconds": seconds, "rows_per_second": count * args.batch / seconds}


def loaded_libraries():
    """Paths of the BLAS/LAPACK shared libraries mapped into this process."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            name = path.rsplit("/", 1)[-1]
            if "blas" in name or "lapack" in name:
                paths.add(path)
    return sorted(paths)


def prewarm(args, batches):
    if args.prewarm_steps <= 0:
        return
    quick = argparse.Namespace(**{**vars(args), "warmup": args.prewarm_steps, "seconds": 0.0})
    train_variant(quick, "plain/sparse_adam", batches)


def main():
    parser = argparse.ArgumentParser()
    ints = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    words = lambda text: [x for x in text.split(",") if x]  # noqa: E731
    parser.add_argument("--vocabularies", type=ints, default=ints("10,100,1000,5000,10000,30000,60000,100000"))
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--towers", type=ints, default=ints("64,32"))
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=ints, default=ints("1,2"))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--zipf", type=float, default=1.05)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--prewarm-steps", type=int, default=20)
    parser.add_argument("--bag", action="store_true", help="nn.EmbeddingBag instead of nn.Embedding")
    parser.add_argument(
        "--variants",
        type=words,
        default=words(
            "plain/sparse_adam,plain/dense_adam,plain/adagrad,gated/sparse_adam,gated/dense_adam,gated/adagrad"
        ),
    )
    parser.add_argument("--embedding-only", type=words, default=words("sparse_adam,adagrad"))
    args = parser.parse_args()

    batches = make_batches(args.vocabularies, args.batch, args.zipf, 1)
    results = {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "lookup": "nn.EmbeddingBag" if args.bag else "nn.Embedding",
        "libraries": loaded_libraries(),
        "train": {},
        "embedding": {},
    }
    for threads in args.threads:
        torch.set_num_threads(threads)
        prewarm(args, batches)
        for variant in args.variants:
            result = train_variant(args, variant, batches)
            results["train"].setdefault(variant, {})[str(threads)] = result
            print(f"torch {threads} thread(s) {variant}: {result['examples_per_second']:.0f} examples/s", file=sys.stderr)
        for kind in args.embedding_only:
            result = embedding_variant(args, kind, batches)
            results["embedding"].setdefault(kind, {})[str(threads)] = result
            print(f"torch {threads} thread(s) embedding {kind}: {result['rows_per_second']:.0f} rows/s", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
