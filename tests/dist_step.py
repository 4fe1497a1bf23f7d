"""One DALR optimizer-step gradient of the tiny preset, on 1 process (`python`) or N (`torchrun`).

Usage: dist_step.py OUT_DIR [key=value ...]. Each process encodes its slice of the first pair batch; the
objective runs on the all-gathered global batch. Every rank writes OUT_DIR/grads_w{world}_r{rank}.pt with:
- `loss`, `logs`, `grads`: the loss and the averaged gradient of every parameter. Dropout is switched off here (the
  student in eval mode; the objective's heads stay in train mode) so that the 1-process and N-process runs draw no
  different masks; the aligners' BatchNorm sees the gathered global batch in both, so it needs no SyncBatchNorm.
- `dropout_z`, `eval_z`: the student's `z` for the same three sentences in train mode (dropout on) and in eval mode,
  drawn after the trainer's per-rank seeding: ranks must draw different dropout masks (else the two views of a
  sentence on rank 0 and rank 1 would be identically perturbed copies), while eval mode agrees everywhere.
- `gathered`, `gathered_grad`, `beside_grad`: `all_gather_with_grad` of a slice of rank + 2 rows and 3 + rank columns
  filled with rank + 1 (slices of different lengths, the narrower ones zero-padded), then a loss weighting column j by
  j + 1 on the gathered tensor plus a tensor beside it: the same upstream gradient reaches the gather and that tensor,
  and the gather's backward must not change it for the other.
- `toy_avg`: `average_gradients` applied to three toy parameters whose gradients are rank + 1 (first) and, on the last
  rank only, 2 * world (second; the other ranks hold no gradient), and none anywhere (third): the averages
  (world + 1) / 2 and 2, and still no gradient for the third (AdamW must leave it alone).
"""
import sys, torch
from dalr.presets import get_config
from dalr.train import Trainer
from dalr.distributed import all_gather_with_grad, average_gradients

out, overrides = sys.argv[1], sys.argv[2:]
torch.set_num_threads(1)
cfg = get_config('tiny', [*overrides, f'out_dir={out}/run'])
tr = Trainer(cfg, progress=False)
rank, world = tr.rank, tr.world
tr.student.eval()
batch = next(b for b in tr.loader if b.is_pair)
loss, logs = tr.loss(batch)
loss.backward()
average_gradients(tr.params)
names = [f'student.{n}' for n, _ in tr.student.named_parameters()] + [f'objective.{n}' for n, _ in tr.objective.named_parameters()]
grads = {n: (p.grad.clone() if p.grad is not None else None) for n, p in zip(names, [*tr.student.parameters(), *tr.objective.parameters()])}

three = tr.tok(['a red car', 'two small dogs', 'a big blue house'], padding=True, return_tensors='pt')
with torch.no_grad():
    eval_z = tr.student(three['input_ids'], three['attention_mask'])['z']
    tr.student.train()
    dropout_z = tr.student(three['input_ids'], three['attention_mask'])['z']

x = torch.full((rank + 2, 3 + rank), rank + 1., requires_grad=True)
beside = torch.zeros(sum(r + 2 for r in range(world)), 2 + world, requires_grad=True)
shifted = beside * 1.  # a node made before the gather: autograd runs the gather's backward first, then hands it the same gradient
gathered = all_gather_with_grad(x)
((gathered + shifted) * (torch.arange(gathered.shape[1]) + 1.)).sum().backward()

toy = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(4))]
toy[0].grad = torch.full((3,), rank + 1.)
if rank == world - 1: toy[1].grad = torch.full((2,), 2. * world)
average_gradients(toy)

torch.save({'loss': loss.item(), 'logs': logs, 'grads': {k: v for k, v in grads.items() if v is not None},
            'n_local': int(batch['input_ids'].shape[0]), 'eval_z': eval_z, 'dropout_z': dropout_z,
            'toy_avg': [p.grad for p in toy],
            'gathered': gathered.detach(), 'gathered_grad': x.grad, 'beside_grad': beside.grad}, f'{out}/grads_w{world}_r{rank}.pt')
if torch.distributed.is_initialized(): torch.distributed.destroy_process_group()  # gloo's threads end before the interpreter does
