"""One DALR optimizer-step gradient of the tiny preset, on 1 process (`python`) or N (`torchrun`).

Usage: dist_step.py OUT_DIR [key=value ...]. Each process encodes its slice of the first pair batch; the
objective runs on the all-gathered global batch. Rank 0 writes OUT_DIR/grads_w{world}.pt (loss, logs and the
averaged gradient of every parameter). Dropout is switched off (the student in eval mode; the objective's heads stay in train mode) so that the 1-process and N-process runs draw
no different masks; the aligners' BatchNorm sees the gathered global batch in both, so it needs no SyncBatchNorm.
"""
import sys, torch
from dalr.presets import get_config
from dalr.train import Trainer
from dalr.distributed import average_gradients

out, overrides = sys.argv[1], sys.argv[2:]
torch.set_num_threads(1)
cfg = get_config('tiny', [*overrides, f'out_dir={out}/run'])
tr = Trainer(cfg, progress=False)
tr.student.eval()
batch = next(b for b in tr.loader if b.is_pair)
loss, logs = tr.loss(batch)
loss.backward()
average_gradients(tr.params)
names = [f'student.{n}' for n, _ in tr.student.named_parameters()] + [f'objective.{n}' for n, _ in tr.objective.named_parameters()]
grads = {n: (p.grad.clone() if p.grad is not None else None) for n, p in zip(names, [*tr.student.parameters(), *tr.objective.parameters()])}
rank, world = tr.rank, tr.world
torch.save({'loss': loss.item(), 'logs': logs, 'grads': {k: v for k, v in grads.items() if v is not None},
            'n_local': int(batch['input_ids'].shape[0])}, f'{out}/grads_w{world}_r{rank}.pt')
