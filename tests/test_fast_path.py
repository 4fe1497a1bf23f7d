"""The trainer's fast path against its eager reference on CPU: dynamic padding (to the batch's longest sentence) gives the
loss and gradients of padding to `max_length`; the deferred logs (0-d tensors read later) equal the floats read now; the
objective's forward and backward neither read a tensor on the host nor make a host tensor to copy to the device; and the
fused objective gives the loss, components and gradients of its term-by-term reference. On a GPU (`-m cuda`, skipped
elsewhere): the CUDA-graphed step and graphed online teachers against their eager selves; on CPU, a refused capture
falls back to the eager step."""
import shutil, pytest, torch
from dalr.presets import get_config
from dalr.train import Trainer

def _loss_and_grads(tr, batch, sync):
    tr.opt.zero_grad(set_to_none=True)
    loss, logs = tr.loss(batch, sync=sync)
    loss.backward()
    return loss.detach(), logs, [p.grad.clone() if p.grad is not None else None for p in tr.params]

def _pad_to(batch, length, pad_id):
    b = type(batch)(batch)
    n, l = batch['input_ids'].shape
    b['input_ids'] = torch.cat([batch['input_ids'], torch.full((n, length - l), pad_id, dtype=torch.long)], 1)
    b['attention_mask'] = torch.cat([batch['attention_mask'], torch.zeros(n, length - l, dtype=torch.long)], 1)
    return b

@pytest.mark.parametrize('pooler', ['avg', 'cls'])
def test_dynamic_padding_equals_max_length_padding(tmp_path, pooler):
    torch.set_num_threads(1)
    cfg = get_config('tiny', dict(out_dir=str(tmp_path), world_scenes=100, max_steps=4, train_pooler=pooler,
                                  eval_pooler='avg' if pooler == 'avg' else 'cls_before_pooler'))
    tr = Trainer(cfg, progress=False)
    tr.student.eval()  # no dropout: the two paddings must see the same network
    pb = next(b for b in tr.loader if b.is_pair)
    assert pb['input_ids'].shape[1] < cfg.max_length  # the loader pads to the batch's longest sentence
    full = _pad_to(pb, cfg.max_length, tr.tok.pad_token_id or 0)
    l_dyn, logs_dyn, g_dyn = _loss_and_grads(tr, pb, sync=False)
    l_max, logs_max, g_max = _loss_and_grads(tr, full, sync=True)
    assert abs(l_dyn.item() - l_max.item()) < 1e-5
    for k, v in logs_max.items():
        if k != 'pair': assert abs(float(logs_dyn[k]) - v) < 1e-5, k
    assert float(logs_dyn['student embeddings z']) == 0.0
    assert len(g_dyn) == len(g_max) and sum(g is not None for g in g_dyn) > 10
    for a, b in zip(g_dyn, g_max):
        assert (a is None) == (b is None)
        if a is not None: torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)

def test_deferred_logs_equal_eager_logs(tmp_path):
    torch.set_num_threads(1)
    tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path), world_scenes=100, max_steps=4)), progress=False)
    tr.student.eval()
    pb = next(b for b in tr.loader if b.is_pair)
    l_eager, logs_eager, g_eager = _loss_and_grads(tr, pb, sync=True)
    l_def, logs_def, g_def = _loss_and_grads(tr, pb, sync=False)
    assert l_eager.item() == l_def.item()
    assert {k: float(v) for k, v in logs_def.items() if k != 'student embeddings z'} == logs_eager
    for a, b in zip(g_eager, g_def): assert (a is None and b is None) or torch.equal(a, b)

class _HostReads(torch.overrides.TorchFunctionMode):
    "Raise on a read of a tensor's value by the host, or a tensor made on the host (no `device=`) to be copied to the device."
    READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__,
             torch.Tensor.cpu, torch.Tensor.numpy, torch.nonzero, torch.Tensor.nonzero}
    FACTORIES = {torch.randint, torch.randperm, torch.rand, torch.randn, torch.arange, torch.eye, torch.ones, torch.zeros,
                 torch.full, torch.empty, torch.tensor, torch.as_tensor}
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.READS: raise AssertionError(f"the host reads a tensor in the step: {func.__name__}")
        if func in self.FACTORIES and kwargs.get('device') is None: raise AssertionError(f"{func.__name__} makes a host tensor in the step")
        return func(*args, **kwargs)

@pytest.mark.parametrize('over', [{}, dict(mismatch='random'), dict(listmle='exact'), dict(rank='listnet'), dict(intra_text=True)])
def test_objective_step_makes_no_host_read(tmp_path, over):
    "The objective's forward and backward on a pair batch (and a text batch) never wait for the device."
    import dataclasses
    from dalr.distributed import shared_rng
    from dalr.objective import DALRObjective, deferred_checks
    torch.set_num_threads(1)
    tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path), world_scenes=100, max_steps=4, intra_text=bool(over.get('intra_text')))), progress=False)
    obj = DALRObjective(dataclasses.replace(tr.objective.cfg, **over), tr.objective.dim, tr.objective.image_dim)
    batches = [next(b for b in tr.loader if b.is_pair)] + ([next(b for b in tr.loader if not b.is_pair)] if over.get('intra_text') else [])
    one = torch.ones(1)
    with _HostReads(), pytest.raises(AssertionError, match='reads a tensor'): bool(one > 0)  # the guard sees a host read
    with _HostReads(), pytest.raises(AssertionError, match='host tensor'): one + torch.randperm(1)  # and a host tensor
    for b in batches:
        out = tr.student(b['input_ids'], b['attention_mask'])
        temb = tr.cache.get(b['sent_idx'])
        with _HostReads(), deferred_checks(), shared_rng(3):
            loss, logs = obj(out, b, temb)
            loss.backward()
        assert len(logs) > (1 if b.is_pair else 0) and all(torch.is_tensor(v) for k, v in logs.items() if k != 'pair')

def _reference_dalr(obj, z, pooled, img, embs):
    "The DALR loss composed term by term from the building blocks (each view apart, IMA from its own logits)."
    import torch.nn.functional as F
    from dalr.contrastive import cos_sim, info_nce, sim_logits
    from dalr.consistency import consistency_loss
    from dalr.alignment import teacher_similarity, cma_loss, ima_loss
    from dalr.rank import teacher_scores, listmle_loss
    c, z1, z2 = obj.cfg, z[:, 0], z[:, 1]
    info, logits = info_nce(z1, z2, c.temp, c.margin_text)
    s_vv, labels = cos_sim(img, img), torch.arange(len(img))
    v = F.normalize(obj.image_text.image(img), dim=-1)
    cross = torch.stack([F.cross_entropy(sim_logits(obj.image_text.text(pooled[:, k]), v, c.temp_image, c.margin_image, s_vv), labels) for k in range(2)]).mean()
    cons = consistency_loss(obj.consistency, z1, img, c.cons_margin, c.mismatch, c.mismatch_shift)
    text_sim = teacher_similarity(embs, c.teacher_weights, c.teacher_mix)
    cma = cma_loss(z1, img if obj.cma_proj is None else obj.cma_proj(img), text_sim, c.temp, c.kl_tau, c.margin_text, c.target_temp)
    ima = ima_loss(z1, z2, text_sim, c.temp, c.kl_tau, c.margin_text, c.target_temp)
    rank = listmle_loss(logits, teacher_scores(embs, c.teacher_weights, c.rank_temp), norm=c.listmle_norm)
    parts = dict(info=info, cross=cross, cons=cons, cma=cma, ima=ima, rank=rank)
    return info + c.lam * (c.w_cons * cons + cma + cross) + c.mu * (ima + rank), parts

def test_objective_equals_its_reference_terms(tmp_path):
    "The objective (views through the image-text head at once, IMA on InfoNCE's logits, s_vv computed once) gives the loss, components and gradients of the term-by-term reference."
    from dalr.distributed import shared_rng
    torch.set_num_threads(1)
    tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path), world_scenes=100, max_steps=4)), progress=False)
    assert set(tr.objective.cfg.terms) == {'cross', 'cons', 'cma', 'ima', 'rank'}
    b = next(b for b in tr.loader if b.is_pair)
    out = tr.student(b['input_ids'], b['attention_mask'])
    z, pooled = out['z'].detach().requires_grad_(), out['pooled'].detach().requires_grad_()
    img, embs = b['image_feats'], tr.cache.get(b['sent_idx'])
    params = [z, pooled, *tr.objective.parameters()]
    with shared_rng(5): loss, logs = tr.objective(dict(z=z, pooled=pooled), b, embs)
    got = torch.autograd.grad(loss, params, allow_unused=True)
    with shared_rng(5): ref, parts = _reference_dalr(tr.objective, z, pooled, img, embs)
    want = torch.autograd.grad(ref, params, allow_unused=True)
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-6)
    for k, v in parts.items(): torch.testing.assert_close(torch.tensor(logs[k]), v.detach(), rtol=1e-6, atol=1e-6, msg=k)
    assert sum(g is not None for g in got) > 10
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if g is not None: torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)

@pytest.mark.parametrize('pooler', ['cls', 'avg'])
def test_student_step_makes_no_host_read(tmp_path, pooler):
    "The student's two-view forward and backward (a BERT under SDPA, handed a 4-D mask) never wait for the device."
    torch.set_num_threads(1)
    tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path), world_scenes=100, max_steps=4, train_pooler=pooler)), progress=False)
    assert tr.student.backbone.config._attn_implementation == 'sdpa'
    b = next(iter(tr.loader))
    assert int(b['attention_mask'].min()) == 0  # the batch is padded, so a 2-D mask would be inspected
    with _HostReads():
        out = tr.student(b['input_ids'], b['attention_mask'])
        (out['z'].sum() + out['pooled'].sum()).backward()

@pytest.mark.skipif(shutil.which('g++') is None and shutil.which('cc') is None, reason='torch.compile on CPU needs a C++ compiler')
@pytest.mark.parametrize('what', ['compile', 'compile_objective'])
def test_compiled_step_equals_eager(tmp_path, what):
    "`compile=True` (backbone and objective under torch.compile) and `compile_objective=True` (the objective alone) give the eager step's loss, logs and gradients."
    torch.set_num_threads(1)
    torch._dynamo.reset()
    def first_step(compile):
        tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path/str(compile)), world_scenes=100, max_steps=4, **{what: compile})), progress=False)
        tr.student.eval()  # no dropout: both trainers see the same network
        assert (tr.objective._compiled_call_impl is not None) == compile
        assert (tr.student.backbone._compiled_call_impl is not None) == (compile and what == 'compile')
        pb = next(b for b in tr.loader if b.is_pair)
        tr.opt.zero_grad(set_to_none=True)
        loss, logs = tr.loss(pb, sync=False)
        loss.backward()
        return loss.detach(), {k: float(v) for k, v in logs.items() if k != 'pair'}, [p.grad for p in tr.params]
    (le, loge, ge), (lc, logc, gc) = first_step(False), first_step(True)
    torch.testing.assert_close(lc, le, rtol=1e-5, atol=1e-5)
    assert logc.keys() == loge.keys() and all(abs(logc[k] - loge[k]) <= 1e-4 * max(1, abs(loge[k])) for k in loge)
    assert sum(g is not None for g in ge) > 10
    for a, b in zip(ge, gc):
        assert (a is None) == (b is None)
        if a is not None: torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5)

def _no_dropout(tr):
    for m in tr.student.modules():
        if isinstance(m, torch.nn.Dropout): m.p = 0.0

@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA graphs need a GPU')
@pytest.mark.parametrize('amp', [False, True])
@pytest.mark.parametrize('objective', [False, True])
def test_graphed_step_equals_eager(tmp_path, amp, objective):
    "`cuda_graphs=True` (the student's forward and backward replayed, batches padded to max_length), with `graph_objective` the objective replayed too, gives the eager step's loss, logs and accumulated gradients, and captures once per batch shape (and kind, for the objective)."
    def first_step(graphs):
        tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path/str(graphs)), world_scenes=100, max_steps=4, device='cuda', amp=amp, grad_accum=2,
                                             cuda_graphs=graphs, graph_objective=graphs and objective)), progress=False)
        _no_dropout(tr)  # before the capture: both trainers see the same network
        seen = {}
        tr.opt.register_step_pre_hook(lambda opt, args, kw: seen.update(grads=[p.grad.clone() for p in tr.params]))
        pb = next(b for b in tr.loader if b.is_pair); tb = next(b for b in tr.loader if not b.is_pair)
        assert pb['input_ids'].shape[1] < tr.cfg.max_length  # the eager path pads to the batch's longest sentence
        logs = tr.train_step([pb, tb])
        logs = {k: float(v) for k, v in logs.items() if k != 'pair'}
        return tr, logs, seen['grads']
    (te, le, ge), (tg, lg, gg) = first_step(False), first_step(True)
    assert te.student._graphs == {} and list(tg.student._graphs) == [(2 * tg.cfg.batch_size, tg.cfg.max_length)]
    tol = 2e-2 if amp else 1e-4
    assert lg.keys() == le.keys() and all(abs(lg[k] - le[k]) <= tol * max(1, abs(le[k])) for k in le), (lg, le)
    assert sum(g is not None for g in ge) > 10
    for a, b in zip(ge, gg): torch.testing.assert_close(b, a, rtol=tol, atol=tol * 1e-2)
    assert len(tg.objective._graphs) == (2 if objective else 0) and te.objective._graphs == {}  # a pair and a text graph
    tg.train_step([next(b for b in tg.loader if b.is_pair)] * 2)  # a second step replays the same graph
    assert len(tg.student._graphs) == 1 and len(tg.objective._graphs) == (2 if objective else 0)

@pytest.mark.parametrize('device', ['cpu', pytest.param('cuda', marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA graphs need a GPU')])])
def test_graphed_online_teachers_equal_eager(device):
    "`OnlineTeachers(graphs=True)` (batches padded to each teacher's max_length; on CUDA its forward replayed as a graph) embeds as the eager teachers do."
    from transformers import BertModel
    from dalr.synthetic import SceneWorld, tiny_bert_config
    from dalr.teachers import OnlineTeachers, Teacher
    torch.set_num_threads(1)
    world = SceneWorld(seed=0, n_scenes=50, n_text=200)
    tok, sents = world.tokenizer(), world.text_corpus().sentences
    torch.manual_seed(0)
    teachers = [Teacher(BertModel(tiny_bert_config(len(tok))), tok, max_length=32, device=device) for _ in range(2)]
    eager, graphed = OnlineTeachers(teachers, sents), OnlineTeachers(teachers, sents, graphs=True)
    for start in (0, 16, 32):
        idx = torch.arange(start, start + 16)
        assert eager.table(0).batch(idx.numpy())[0].shape[1] < 32  # the eager batch is padded to its longest sentence only
        for a, b in zip(eager.get(idx), graphed.get(idx)): torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert graphed.graphs and all(list(t._graphs) == ([(16, 32)] if device == 'cuda' else []) for t in teachers)

def test_a_failed_capture_warns_and_trains_eagerly(tmp_path):
    "With `cuda_graphs` on, a capture that fails (here: refused, the student is on the CPU) warns, pads the batch to max_length and leaves the run eager."
    torch.set_num_threads(1)
    tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path), world_scenes=100, max_steps=4)), progress=False)
    assert tr.cfg.cuda_graphs and not tr.graphs  # on by default, off the GPU
    tr.graphs = True  # as on a GPU: the next batch attempts the capture
    b = next(iter(tr.loader))
    assert b['input_ids'].shape[1] < tr.cfg.max_length
    with pytest.warns(UserWarning, match="capturing the student's step failed .*CUDA device.*without graphs"):
        padded = tr._graphed(dict(b))
    assert tr.graphs is False and tr.student._graphs == {}
    assert padded['input_ids'].shape == padded['attention_mask'].shape == (len(b['input_ids']), tr.cfg.max_length)
    assert torch.equal(padded['attention_mask'].sum(1), b['attention_mask'].sum(1))
    logs = tr.train_step([b])
    assert tr.step == 1 and torch.isfinite(logs['loss'])

def _static_buffers(f, n_user:int):
    "`f` as `torch.cuda.make_graphed_callables` hands it back, without a GPU: outputs and gradients in buffers that each call overwrites."
    params, outs, grads = tuple(f.parameters()), {}, {}
    class Replay(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            xs = [x.detach().requires_grad_(x.requires_grad) for x in inputs[:n_user]]
            with torch.enable_grad(): res = f(*xs)
            ctx.saved = res[0], [x for x in xs if x.requires_grad], [x.requires_grad for x in inputs]
            return tuple(outs.setdefault(k, torch.empty_like(o)).copy_(o.detach()).detach() for k, o in enumerate(res))
        @staticmethod
        def backward(ctx, g_loss, g_vals):
            loss, xs, needs = ctx.saved
            gs = iter(torch.autograd.grad(loss, xs + list(params), g_loss, allow_unused=True))
            res = [next(gs) if need else None for need in needs]
            return tuple(None if g is None else grads.setdefault(k, torch.empty_like(g)).copy_(g).detach() for k, g in enumerate(res))
    class Graphed:
        names = property(lambda self: f.names)
        def __call__(self, *user): return Replay.apply(*user, *params)
    return Graphed()

def test_objective_graphs_accumulate_gradients(tmp_path, monkeypatch):
    "With `graph_objective`, the objective's graphs hand back their outputs and gradients in buffers each replay overwrites; an accumulation group (two image-caption batches and a text batch) still gets the eager step's logs and gradients, the student eager."
    from dalr.objective import DALRObjective
    def graph(self, out, batch, embs=None):  # `DALRObjective.graph` past its CUDA check, the capture imitated on the CPU
        hit = self._graph_inputs(out, batch, embs)
        if hit is None: return False
        if hit[0] not in self._graphs: self._graphs[hit[0]] = self._captured(*hit, lambda f, samples, allow_unused_input: _static_buffers(f, len(samples)))
        return True
    monkeypatch.setattr(DALRObjective, 'graph', graph)
    torch.set_num_threads(1)
    def step(graphs):
        tr = Trainer(get_config('tiny', dict(out_dir=str(tmp_path/str(graphs)), world_scenes=100, max_steps=4)), progress=False)
        _no_dropout(tr); tr.objective_graphs = graphs
        seen = {}
        tr.opt.register_step_pre_hook(lambda opt, args, kw: seen.update(grads=[p.grad.clone() for p in tr.params]))
        pbs = [b for b in tr.loader if b.is_pair][:2]; tb = next(b for b in tr.loader if not b.is_pair)
        logs = tr.train_step([pbs[0], tb, pbs[1]])
        return tr, {k: float(v) for k, v in logs.items() if k != 'pair'}, seen['grads']
    (te, le, ge), (tg, lg, gg) = step(False), step(True)
    assert not tg.graphs and sorted(k[:2] for k in tg.objective._graphs) == [(False, 0), (True, 2)] and te.objective._graphs == {}
    assert lg.keys() == le.keys() and all(abs(lg[k] - le[k]) <= 1e-5 * max(1, abs(le[k])) for k in le), (lg, le)
    assert sum(g is not None for g in ge) > 10
    for a, b in zip(ge, gg): torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)
