"""The pointer network: linear attention, targets, decoding, checkpoints, precache, training and inference."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

th = pytest.importorskip("torch")

from pointer_baseline.errors import PointerError  # noqa: E402
from pointer_baseline.model import (  # noqa: E402
    NEG,
    PointerModelConfig,
    PointerNetwork,
    keep_context_features,
    linear_attention,
    naive_linear_attention,
    step_state_features,
)

TINY = PointerModelConfig(
    d_model=16, n_heads=2, n_layers=1, ffn_mult=2, conv_kernel=5, n_summary=4, max_delta=8, jump_chunk=8, key_dim=8
)
REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


@pytest.fixture(autouse=True)
def _one_thread():
    old = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(old)


def test_import_is_lazy():
    code = "import sys, pointer_baseline; pointer_baseline.PointerError; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_resolves():
    import pointer_baseline

    for name in pointer_baseline.__all__:
        assert getattr(pointer_baseline, name) is not None, name


# -- linear attention -------------------------------------------------------------------------
@pytest.mark.parametrize("t", [1, 7, 50])
def test_linear_attention_equals_naive(t):
    g = th.Generator().manual_seed(t)
    q, k = th.randn(2, 3, t, 5, generator=g), th.randn(2, 3, t, 5, generator=g)
    v = th.randn(2, 3, t, 4, generator=g)
    th.testing.assert_close(linear_attention(q, k, v), naive_linear_attention(q, k, v), rtol=1e-5, atol=1e-5)


def test_linear_attention_mask_ignores_padding():
    g = th.Generator().manual_seed(0)
    q, k, v = (th.randn(1, 2, 12, 4, generator=g) for _ in range(3))
    mask = th.zeros(1, 12, dtype=th.bool)
    mask[:, :9] = True
    padded = linear_attention(q, k, v, mask)[:, :, :9]
    th.testing.assert_close(padded, naive_linear_attention(q[:, :, :9], k[:, :, :9], v[:, :, :9]), rtol=1e-5, atol=1e-5)


def test_linear_attention_does_not_form_t_by_t():
    # 200k frames with a naive T x T matrix would need 160 GB; the linear form runs in a blink
    q = k = th.randn(1, 1, 200_000, 4)
    assert linear_attention(q, k, k).shape == (1, 1, 200_000, 4)


# -- targets ----------------------------------------------------------------------------------
def _pointers() -> np.ndarray:
    # skip a count-in, copy, small skip, long jump forward, loop back, copy to the end
    return np.concatenate([np.arange(20, 60), np.arange(63, 90), np.arange(150, 170), np.arange(100, 130)])


def test_step_targets_reconstruct_the_pointers():
    from pointer_baseline.data import step_targets

    p, n_raw, d, c = _pointers(), 200, TINY.max_delta, TINY.jump_chunk
    tg = step_targets(p, n_raw, max_delta=d, jump_chunk=c)
    m = p.size
    assert tg.n_steps == m + 1 and tg.stop[-1] == 1 and tg.stop[:-1].sum() == 0
    assert tg.expected[0] == 0 and (tg.expected[1:] == p + 1).all()
    rebuilt = np.empty(m, dtype=np.int64)
    for i in range(m):
        if tg.use_jump[i]:
            centre = min(tg.chunk[i] * c + c // 2, n_raw - 1)
            rebuilt[i] = centre + tg.landing[i] - d
            assert 0 <= tg.landing[i] < 2 * d + 1
        else:
            rebuilt[i] = tg.expected[i] + tg.delta_class[i] - d
    assert (rebuilt == p).all()
    assert tg.use_jump.sum() == 3  # 0 -> 20 (count-in), 89 -> 150, 169 -> 100; 59 -> 63 is a delta
    assert tg.delta_class[40] == d + 3
    # run / seams follow the decoder's update rule
    run = seams = 0
    for i in range(m + 1):
        assert (tg.run[i], tg.seams[i]) == (run, seams)
        if i < m:
            if p[i] != tg.expected[i]:
                run, seams = 0, seams + 1
            else:
                run += 1
    assert set(tg.events) == {0, 40, 67, 87, m}


def test_seam_accuracy_counts_only_the_references_seams():
    from pointer_baseline.data import step_targets
    from pointer_baseline.trainers.pointer_trainer import seam_hits

    p = _pointers()
    tg = step_targets(p, 200, max_delta=TINY.max_delta, jump_chunk=TINY.jump_chunk)
    assert tg.seam_steps.tolist() == [0, 40, 67, 87]  # the events without the stop
    predicted = tg.pointer.copy()
    assert seam_hits(predicted, tg) == (4, 4)
    predicted[tg.seam_steps[1]] = tg.expected[tg.seam_steps[1]]  # plays on through the delta at step 40
    predicted[5] += 1  # a wrong continuation: not a seam, not counted
    assert seam_hits(predicted, tg) == (3, 4)
    assert seam_hits(predicted, tg, jumps=False) == (0, 1) and seam_hits(predicted, tg, jumps=True) == (3, 3)


def test_hard_step_mining_finds_the_steps_the_network_gets_wrong():
    from pointer_baseline.data import step_targets
    from pointer_baseline.trainers.pointer_trainer import hardest_steps, sample_losses

    p, n_raw = _pointers(), 200
    tg = step_targets(p, n_raw, max_delta=TINY.max_delta, jump_chunk=TINY.jump_chunk)
    model = PointerNetwork(TINY).eval()
    with th.no_grad():  # a network that always plays on: wrong exactly at every seam and at the stop
        model.stop.bias.fill_(-30.0)
        model.use_jump.bias.fill_(-30.0)
        model.delta_bias[TINY.max_delta] += 100.0
    mem = model.memory(th.rand(128, n_raw))
    seams = np.flatnonzero(
        (tg.stop == 1) | (tg.use_jump == 1) | ((tg.delta_class >= 0) & (tg.delta_class != TINY.max_delta))
    )
    found = hardest_steps(model, mem, tg, 50)
    np.testing.assert_array_equal(found, seams)
    assert hardest_steps(model, mem, tg, 2).size == 2 and set(hardest_steps(model, mem, tg, 2)) <= set(seams)
    # the losses then cover them even when the drawn steps miss them
    losses = sample_losses(model, th.rand(128, n_raw), tg, np.array([5]), hard_steps=50)
    assert losses["jump_loss"] is not None and float(losses["stop_loss"].detach()) > 1.0


def test_greedy_decoding_takes_the_likeliest_choice_at_every_step():
    from pointer_baseline.data import step_targets
    from pointer_baseline.trainers.pointer_trainer import teacher_forced_log_likelihood

    th.manual_seed(3)
    model = PointerNetwork(TINY).eval()
    with th.no_grad():  # continue, jump and delta now and then (as in test_block_decoding_equals_step_by_step)
        model.use_jump.bias.zero_()
        model.use_jump.weight.mul_(20.0)
        model.delta_bias.zero_()
        model.delta_bias[TINY.max_delta] = 1.0
    n_raw, d = 300, TINY.max_delta
    mel = th.rand(128, n_raw)
    greedy, info = model.decode(mel, max_plays=None, min_last_segment=0)
    assert info["seams"] > 0 and greedy.size > 20

    def log_likelihood(pointers):
        targets = step_targets(pointers, n_raw, max_delta=d, jump_chunk=TINY.jump_chunk)
        return targets, teacher_forced_log_likelihood(model, mel, targets)

    targets, ll = log_likelihood(greedy)
    assert ll.shape == (greedy.size + 1,) and np.isfinite(ll).all() and (ll <= 0).all()
    assert (targets.use_jump == 1).any()  # both routes are scored
    delta_steps = np.flatnonzero(targets.delta_class[:-1] >= 0)
    for s in delta_steps[:: max(delta_steps.size // 8, 1)]:
        expected = int(targets.expected[s])
        for other in (expected + targets.delta_class[s] - d - 1, expected + targets.delta_class[s] - d + 1):
            if not (0 <= other < n_raw and abs(other - expected) <= d):
                continue
            _, alt = log_likelihood(np.append(greedy[:s], other))  # another delta at step s, then the end
            np.testing.assert_allclose(alt[:s], ll[:s], rtol=1e-5, atol=1e-5)  # the same history scores the same
            assert alt[s] < ll[s]
        _, stopped = log_likelihood(greedy[:s])  # stopping at step s instead
        assert stopped[s] < math.log(0.5)  # greedy went on: the stop head gave stopping under half


def test_frame_labels_mark_kept_frames_landings_and_exits():
    from pointer_baseline.data import frame_labels

    labels = frame_labels(_pointers(), 200)
    kept, start, end = (labels[:, j].astype(bool) for j in range(3))
    assert kept.sum() == np.unique(_pointers()).size and not kept[:20].any() and not kept[170:].any()
    assert np.flatnonzero(start).tolist() == [20, 63, 100, 150]
    assert np.flatnonzero(end).tolist() == [59, 89, 129, 169]


# -- the network ------------------------------------------------------------------------------
def test_shapes_and_window_masking():
    model = PointerNetwork(TINY).eval()
    n_raw = 50
    mel = th.rand(128, n_raw)
    mem = model.memory(mel)
    assert mem.enc.shape == (n_raw, 16) and mem.ptr_k.shape == (n_raw + 2 * 8 + 1, 8)
    assert mem.chunk_k.shape == (7, 8) and int(mem.chunk_centre[-1]) == 49  # last bucket holds frames 48-49
    expected = th.tensor([0, 3, 25, 49, 50])
    state = step_state_features(np.arange(5), expected.numpy(), np.zeros(5), np.zeros(5), n_raw, 0.67)
    out = model.steps(mem, expected, state)
    assert out.delta_logits.shape == (5, 17) and out.stop_logit.shape == (5,) and out.op_logits.shape == (5, 6)
    frames = expected[:, None] + th.arange(-8, 9)[None]
    outside = (frames < 0) | (frames >= n_raw)
    assert (out.delta_logits[outside] == NEG).all() and (out.delta_logits[~outside] > NEG / 2).all()
    assert model.jump_logits(mem, out.z, expected).shape == (5, 7)
    land = model.landing_logits(mem, out.z, th.tensor([0, 1, 2, 3, 6]))
    assert land.shape == (5, 17) and (land[4, 8 + 1 :] == NEG).all()  # around frame 49: nothing after it


def test_mel_of_the_wrong_shape_is_a_clear_error():
    with pytest.raises(PointerError, match="128 rows"):
        PointerNetwork(TINY).memory(th.rand(64, 30))


def test_block_decoding_equals_step_by_step():
    th.manual_seed(3)
    model = PointerNetwork(TINY).eval()
    with th.no_grad():  # make it continue, jump and delta now and then, and never stop early
        model.stop.bias.fill_(-30.0)
        model.use_jump.bias.zero_()
        model.use_jump.weight.mul_(20.0)
        model.delta_bias.zero_()
        model.delta_bias[TINY.max_delta] = 1.0
    mel = th.rand(128, 300)
    blocked, info = model.decode(mel, block=64)
    single, _ = model.decode(mel, block=1)
    assert info["seams"] > 0 and blocked.size > 0
    np.testing.assert_array_equal(blocked, single)
    assert blocked.min() >= 0 and blocked.max() < 300
    fixed, info = model.decode(mel, n_steps=37)
    assert fixed.size == 37 or info["stopped_by"] == "end_of_raw"


def test_decode_stops_at_end_of_raw_and_at_max_length():
    model = PointerNetwork(TINY).eval()
    with th.no_grad():
        model.stop.bias.fill_(-30.0)
        model.use_jump.bias.fill_(-30.0)
        model.delta_bias[TINY.max_delta] += 100.0  # always continue
    ptr, info = model.decode(th.rand(128, 40))
    assert info["stopped_by"] == "end_of_raw" and (ptr == np.arange(40)).all()
    with th.no_grad():
        model.delta_bias[TINY.max_delta] -= 200.0
        model.delta_bias[TINY.max_delta - 2] += 200.0  # always step back by one frame: a runaway loop
    mel = th.rand(128, 40)
    ptr, info = model.decode(mel, max_output_ratio=1.5, max_plays=None)
    assert info["stopped_by"] == "max_length" and ptr.size == 60 and np.bincount(ptr).max() > 2
    # with the play cap (default 2) a move onto a frame played twice is refused and the edit plays on
    capped, info = model.decode(mel, max_output_ratio=1.5)
    assert info["refused_moves"] > 0 and np.unique(capped).size > np.unique(ptr).size
    moves = [k for k in range(1, capped.size) if capped[k] != capped[k - 1] + 1]
    assert moves and all((capped[:k] == capped[k]).sum() < 2 for k in moves)
    with pytest.raises(PointerError, match="max_plays=0"):
        model.decode(mel, max_plays=0)


def test_a_refused_move_after_an_exit_moved_onto_the_raws_end_ends_the_edit():
    """An exit moved onto the raw's last frame, then a move the play cap refuses: there is nothing to play on."""
    model = PointerNetwork(TINY).eval()
    with th.no_grad():
        model.stop.bias.fill_(-30.0)
        model.use_jump.bias.fill_(-30.0)
        model.delta_bias[TINY.max_delta - 1] += 200.0  # always step back by one frame
    n_raw = 40
    ptr, info = model.decode(th.rand(128, n_raw), exit_snap=lambda landing, exit: n_raw, max_plays=1)
    assert info["stopped_by"] == "end_of_raw" and info["refused_moves"] == 0
    assert (ptr == np.arange(n_raw)).all()  # frame 0, then on to the end; the move back onto frame 39 is refused


def test_a_seam_onto_a_fragment_that_ends_the_edit_is_refused():
    """A network that jumps from frame 50 onward to frame 95 and stops at frame 97 would end the edit on a
    two-frame fragment, cutting 50-94; the decoder refuses the seam and plays on to the stop."""
    from pointer_baseline.model import StepOutput

    model = PointerNetwork(TINY).eval()
    w = TINY.window

    def steps(mem, expected, state):
        e = expected.long()
        delta = th.full((e.numel(), w), -10.0)
        delta[:, TINY.max_delta] = 10.0
        return StepOutput(
            z=th.zeros(e.numel(), TINY.d_model),
            delta_logits=delta,
            use_jump_logit=th.where((e >= 50) & (e < 95), 10.0, -10.0),
            stop_logit=th.where(e == 97, 10.0, -10.0),
            op_logits=None,
        )

    def resolve(mem, out, expected, force_seam=False):
        return th.where(out.use_jump_logit > 0, 95, expected.long())

    model.steps, model.resolve = steps, resolve
    mel = th.rand(128, 100)
    fragment, _ = model.decode(mel, min_last_segment=0)
    np.testing.assert_array_equal(fragment, np.r_[np.arange(50), 95, 96])
    ptr, info = model.decode(mel)
    np.testing.assert_array_equal(ptr, np.arange(97))
    assert info["stopped_by"] == "stop" and info["refused_moves"] == 45


# -- checkpoints ------------------------------------------------------------------------------
def test_checkpoint_round_trip_mismatch_and_truncation(tmp_path):
    from pointer_baseline.checkpoint import load_model, save_checkpoint

    model = PointerNetwork(TINY)
    path = save_checkpoint(tmp_path / "model.pt", model, epoch=3, step=7)
    loaded, payload = load_model(path, TINY)
    assert payload["epoch"] == 3
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert th.equal(a, b)
    other = dataclasses.replace(TINY, d_model=32, n_layers=2)
    with pytest.raises(PointerError, match=r"d_model: checkpoint 16 vs config 32.*n_layers: checkpoint 1 vs config 2"):
        load_model(path, other)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(PointerError, match="truncated"):
        load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    th.save({"weights": th.zeros(2)}, foreign)
    with pytest.raises(PointerError, match="not a pointer-network checkpoint"):
        load_model(foreign)
    with pytest.raises(PointerError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_keep_context_features_are_the_keep_heads_means_around_each_position():
    keep = th.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # probabilities
    feats = keep_context_features(th.logit(keep.clamp(1e-6, 1 - 1e-6)), span=2)
    assert feats.shape == (11, 4)
    # at e = 6 (the first cut frame): the 2 frames behind are kept, the 2 ahead are cut; 8 behind: 4 of 6 kept
    np.testing.assert_allclose(feats[6].numpy(), [1.0, 0.0, 4 / 6, 0.0], atol=1e-5)
    np.testing.assert_allclose(feats[0].numpy(), [0.0, 0.0, 0.0, 4 / 8], atol=1e-5)  # nothing behind the start
    np.testing.assert_allclose(feats[10].numpy(), [0.0, 0.0, 4 / 8, 0.0], atol=1e-5)  # nothing ahead of the end


def test_a_checkpoint_without_keep_context_fine_tunes_into_one_with_it(tmp_path):
    from pointer_baseline.checkpoint import load_weights, read_checkpoint, save_checkpoint

    th.manual_seed(5)
    old = PointerNetwork(TINY).eval()
    with th.no_grad():  # seams now and then, as in test_block_decoding_equals_step_by_step
        old.stop.bias.fill_(-30.0)
        old.use_jump.weight.mul_(20.0)
        old.use_jump.bias.zero_()
    path = save_checkpoint(tmp_path / "old.pt", old)
    new = PointerNetwork(dataclasses.replace(TINY, keep_context=4)).eval()
    with pytest.raises(PointerError, match="keep_context: checkpoint 0 vs config 4"):
        load_weights(new, read_checkpoint(path), path)  # loading for inference never widens
    load_weights(new, read_checkpoint(path), path, grow=True)
    assert new.frame_proj.weight.shape[1] == old.frame_proj.weight.shape[1] + 4
    assert not new.frame_proj.weight[:, -4:].any()
    mel = th.rand(128, 200)
    np.testing.assert_array_equal(old.decode(mel)[0], new.decode(mel)[0])  # it starts out deciding as before


def test_a_checkpoint_grows_more_encoder_layers_that_start_as_the_identity(tmp_path):
    from pointer_baseline.checkpoint import load_weights, read_checkpoint, save_checkpoint

    th.manual_seed(6)
    old = PointerNetwork(TINY).eval()
    path = save_checkpoint(tmp_path / "old.pt", old)
    new = PointerNetwork(dataclasses.replace(TINY, n_layers=TINY.n_layers + 2)).eval()
    with pytest.raises(PointerError, match="n_layers: checkpoint 1 vs config 3"):
        load_weights(new, read_checkpoint(path), path)  # loading for inference never grows
    mel = th.rand(1, 128, 150)
    assert not th.allclose(new.encoder(mel), old.encoder(mel))
    load_weights(new, read_checkpoint(path), path, grow=True)
    th.testing.assert_close(new.encoder(mel), old.encoder(mel))  # the new blocks pass their input through
    np.testing.assert_array_equal(old.decode(mel[0])[0], new.decode(mel[0])[0])
    new.train()  # and they learn: every new weight gets a gradient once the zeroed projections have moved
    optimizer = th.optim.SGD(new.parameters(), lr=0.1)
    target = th.randn(1, 150, TINY.d_model)
    for _ in range(2):
        optimizer.zero_grad()
        (new.encoder(mel) * target).sum().backward()
        optimizer.step()
    grown = new.encoder.blocks[-1]
    assert grown.ffn[-1].weight.abs().sum() > 1e-3 and grown.ffn[0].weight.grad.abs().sum() > 1e-3


def test_checkpoint_of_another_model_version(tmp_path, monkeypatch):
    from pointer_baseline import checkpoint

    path = checkpoint.save_checkpoint(tmp_path / "m.pt", PointerNetwork(TINY))
    monkeypatch.setattr(checkpoint, "MODEL_VERSION", 99)
    with pytest.raises(PointerError, match="version 1, this code is version 99"):
        checkpoint.load_model(path)


def test_configs_load():
    from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig

    full = PointerTrainConfig.from_json(CONFIGS / "pointer_full.json")
    assert full.model.d_model == 64 and full.model.max_delta == 64 and full.model.n_summary == 64
    tiny = PointerTrainConfig.from_json(CONFIGS / "pointer_tiny.json")
    assert tiny.model.d_model < full.model.d_model
    with pytest.raises(PointerError, match="unknown field"):
        PointerTrainConfig.from_dict({"epochz": 3})
    with pytest.raises(PointerError, match="jump_chunk"):
        PointerModelConfig(max_delta=4, jump_chunk=16)


# -- end to end on a tiny generated data set --------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two short synthetic pairs, precached through the CLI: ``(data_dir, cache_dir, pointer_dir)``."""
    from editor_env.synth import write_dataset
    from pointer_baseline.precache import main

    root = tmp_path_factory.mktemp("pointer")
    data_dir, cache_dir = root / "training_data", root / "cache"
    write_dataset(data_dir, 2, seed=5, duration_range_s=(12.0, 16.0), progress=False)
    assert (
        main([str(s) for s in []] + ["--data-dir", str(data_dir), "--cache-dir", str(cache_dir), "--no-progress"]) == 0
    )
    return data_dir, cache_dir, data_dir / "pointer_sequences"


def test_precache_cli_caches_mels_and_keeps_ground_truth(tiny_data, capsys):
    from pointer_baseline.data import load_sample
    from pointer_baseline.precache import main, precache_pointer_data

    data_dir, cache_dir, pointer_dir = tiny_data
    assert (cache_dir / "features" / "synth_0000_raw.npz").is_file()
    sample = load_sample(cache_dir, pointer_dir, "synth_0001")
    assert sample.mel.shape[0] == 128 and sample.pointers.max() < sample.n_raw
    again = precache_pointer_data(data_dir, cache_dir, progress=False)  # nothing left to do
    assert sorted(again.ready) == ["synth_0000", "synth_0001"] and not again.mel_computed
    assert main(["synth_0000", "--data-dir", str(data_dir), "--cache-dir", str(cache_dir), "--no-progress"]) == 0
    assert "1 sample(s) ready" in capsys.readouterr().out


def test_precache_aligns_a_pair_without_pointers(tiny_data, tmp_path):
    from pointer_baseline.precache import precache_pointer_data

    data_dir, cache_dir, _ = tiny_data
    result = precache_pointer_data(
        data_dir, cache_dir, samples=["synth_0000"], pointer_dir=tmp_path / "aligned", progress=False
    )
    assert result.aligned == ["synth_0000"] and result.ready == ["synth_0000"] and not result.failed
    truth = np.load(data_dir / "pointer_sequences" / "synth_0000_pointers.npy")
    aligned = np.load(tmp_path / "aligned" / "synth_0000_pointers.npy")
    assert aligned.shape == truth.shape and np.mean(np.abs(aligned - truth) <= 1) > 0.95
    failed = precache_pointer_data(
        data_dir, cache_dir, samples=["synth_0001"], pointer_dir=tmp_path / "none", align=False, progress=False
    )
    assert "synth_0001" in failed.failed and "--no-align" in failed.failed["synth_0001"]


def test_mismatched_pointer_file_is_a_clear_error(tiny_data, tmp_path):
    from pointer_baseline.data import load_sample

    _, cache_dir, _ = tiny_data
    np.save(tmp_path / "synth_0000_pointers.npy", np.arange(100_000, 100_050))
    with pytest.raises(PointerError, match="synth_0000_pointers.npy points at raw frame 100049"):
        load_sample(cache_dir, tmp_path, "synth_0000")


def _tiny_config(tiny_data, save_dir, **overrides):
    from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig

    _, cache_dir, pointer_dir = tiny_data
    config = PointerTrainConfig.from_json(CONFIGS / "pointer_tiny.json")
    values = dict(
        cache_dir=str(cache_dir), pointer_dir=str(pointer_dir), save_dir=str(save_dir), progress=False, device="cpu"
    )
    values.update(overrides)
    return dataclasses.replace(config, **values)


def test_tiny_model_trains_and_infers_on_cpu(tiny_data, tmp_path):
    """Train a few steps, write checkpoints and TensorBoard scalars, edit a file end to end (< 60 s)."""
    import time

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pointer_baseline.infer import main as infer_main
    from pointer_baseline.infer import pointer_edit_list
    from pointer_baseline.trainers.pointer_trainer import main as train_main

    start = time.perf_counter()
    data_dir, cache_dir, pointer_dir = tiny_data
    save = tmp_path / "run"
    argv = ["--config", str(CONFIGS / "pointer_tiny.json"), "--cache-dir", str(cache_dir)]
    argv += ["--pointer-dir", str(pointer_dir), "--save-dir", str(save), "--epochs", "2", "--device", "cpu"]
    assert train_main([*argv, "--no-progress"]) == 0
    assert {"best.pt", "latest.pt", "config.json"} <= {p.name for p in save.iterdir()}
    assert json.loads((save / "config.json").read_text())["epochs"] == 2
    events = EventAccumulator(str(save / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in (
        "train/delta_loss",
        "train/use_jump_loss",
        "train/stop_loss",
        "train/grad_norm",
        "val/delta_accuracy",
        "val/seam_accuracy",
    ):
        assert tag in tags
    # jump losses appear whenever a batch holds a jump (every synthetic edit skips its count-in)
    assert "train/jump_loss" in tags

    raw = data_dir / "input" / "synth_0000_raw.wav"
    out = tmp_path / "edited.wav"
    assert infer_main([str(raw), "--checkpoint", str(save / "best.pt"), "-o", str(out), "--device", "cpu"]) == 0
    edl = json.loads((tmp_path / "edited.edl.json").read_text())
    assert edl["format"] == "musicedit-edl" and edl["meta"]["paradigm"] == "pointer"
    assert "exits_moved" in edl["meta"] or "whole_beats" in edl["meta"]  # the exits went through whole_beats
    import soundfile as sf

    info = sf.info(out)
    assert info.samplerate == 22050 and abs(info.duration - edl["output_duration_s"]) < 1e-3
    # refuses to overwrite its input
    assert infer_main([str(raw), "--checkpoint", str(save / "best.pt"), "-o", str(raw)]) == 2
    # the Python API on a cached analysis
    from editor_env.cache import load_analysis

    analysis = load_analysis(cache_dir, "synth_0000")
    api = pointer_edit_list(analysis, save / "best.pt", sample_rate=22050, raw_length=sf.info(raw).frames, device="cpu")
    assert api.meta["output_frames"] >= 1
    assert time.perf_counter() - start < 60


def test_the_learning_rate_decays_over_the_time_budget_of_all_runs(tiny_data, tmp_path):
    from pointer_baseline.checkpoint import read_checkpoint
    from pointer_baseline.trainers.pointer_trainer import train

    save = tmp_path / "run"
    cut = train(_tiny_config(tiny_data, save, epochs=4, warmup_steps=0, max_minutes=0.0))  # stops after epoch 1
    seconds = read_checkpoint(save / "latest.pt")["train_seconds"]
    assert cut.epoch == 1 and seconds > 0
    # a budget the first run has spent: one more epoch, all of it at the schedule's floor (10 %)
    config = _tiny_config(tiny_data, save, epochs=4, warmup_steps=0, max_minutes=seconds / 60)
    resumed = train(config, resume=str(save / "latest.pt"))
    assert resumed.epoch == 2
    last = read_checkpoint(save / "latest.pt")
    assert last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.1 * config.learning_rate)
    assert last["train_seconds"] > seconds


def test_the_calibrated_threshold_has_the_best_f1():
    from pointer_baseline.trainers.pointer_trainer import f1_best_threshold

    # true stops at logits 2 and 1; the section end at 5 and the steps at 4 and 3 fire at any threshold that
    # catches one of them, and the best F1 (0.5) catches both: a threshold below 1, above the next logit (0)
    logits = [np.array([0.0, 1.0, 5.0, 2.0]), np.array([3.0, 4.0, 1.0])]
    stops = [np.array([0, 0, 0, 1]), np.array([0, 0, 1])]
    assert f1_best_threshold(logits, stops) == 0.5
    # the true end stands above every other step: the threshold separates it from the highest of them
    assert f1_best_threshold([np.array([0.0, 1.0, 2.0, 5.0])], [np.array([0, 0, 0, 1])]) == 3.5
    with pytest.raises(PointerError, match="no stop step"):
        f1_best_threshold([np.zeros(3)], [np.zeros(3)])
    with pytest.raises(PointerError, match="no use_jump step"):
        f1_best_threshold([np.zeros(3)], [np.zeros(3)], head="use_jump")


def test_training_calibrates_the_thresholds_and_old_checkpoints_can_be(tiny_data, tmp_path):
    from pointer_baseline.checkpoint import load_model, read_checkpoint, save_checkpoint
    from pointer_baseline.trainers.pointer_trainer import main as train_main
    from pointer_baseline.trainers.pointer_trainer import train

    result = train(_tiny_config(tiny_data, tmp_path / "run", epochs=1))
    threshold, jump_threshold = result.metrics["stop_threshold"], result.metrics["jump_threshold"]
    model, payload = load_model(tmp_path / "run" / "best.pt")
    assert model.config.stop_threshold == threshold and model.config.stop_decision_threshold == threshold
    assert model.config.jump_threshold == jump_threshold == model.config.jump_decision_threshold
    # a checkpoint from before the calibration: it loads (a calibration is not the network's shape) and
    # --calibrate writes a calibrated copy beside it, leaving it as it was
    old = tmp_path / "old.pt"
    model.config.stop_threshold = model.config.jump_threshold = None
    save_checkpoint(old, model, **{k: payload[k] for k in ("train_config", "val_samples")})
    before = old.read_bytes()
    load_model(old, config=dataclasses.replace(model.config, stop_threshold=1.0, jump_threshold=1.0))
    assert train_main(["--calibrate", str(old), "--out", str(tmp_path / "new.pt")]) == 0
    assert old.read_bytes() == before
    calibrated = read_checkpoint(tmp_path / "new.pt")["model_config"]
    assert calibrated["stop_threshold"] == pytest.approx(threshold)
    assert calibrated["jump_threshold"] == pytest.approx(jump_threshold)
    assert train_main(["--calibrate", str(old), "--out", str(tmp_path / "new.pt")]) == 2  # refuses to overwrite
    # the greedy decoder obeys it: below every stop logit it stops at once
    from pointer_baseline.data import load_sample

    mel = load_sample(tiny_data[1], tiny_data[2], payload["val_samples"][0]).mel
    model.config.stop_threshold = -1e9
    pointers, info = model.decode(mel)
    assert info["stopped_by"] == "stop" and pointers.size == 0
    # and the jump threshold: above every use_jump logit no step jumps, below every one steps jump
    model.config.stop_threshold, model.config.jump_threshold = 1e9, 1e9
    pointers, _ = model.decode(mel, max_plays=None)
    assert pointers.size and (np.abs(np.diff(pointers) - 1) <= model.config.max_delta).all()
    model.config.jump_threshold = -1e9
    pointers, info = model.decode(mel, max_plays=None, n_steps=20)
    assert (np.abs(np.diff(pointers) - 1) > model.config.max_delta).any()


def test_resume_continues_the_same_counters_and_weights(tiny_data, tmp_path):
    from pointer_baseline.checkpoint import read_checkpoint
    from pointer_baseline.trainers.pointer_trainer import train

    straight = train(_tiny_config(tiny_data, tmp_path / "straight", epochs=2))
    cut = train(_tiny_config(tiny_data, tmp_path / "cut", epochs=2, max_minutes=0.0))  # stops after epoch 1
    assert (cut.epoch, straight.epoch) == (1, 2)
    resumed = train(_tiny_config(tiny_data, tmp_path / "cut", epochs=2), resume=str(tmp_path / "cut" / "latest.pt"))
    assert (resumed.epoch, resumed.step) == (straight.epoch, straight.step)
    a = read_checkpoint(tmp_path / "straight" / "latest.pt")
    b = read_checkpoint(tmp_path / "cut" / "latest.pt")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, straight.step)
    for name, tensor in a["state_dict"].items():
        th.testing.assert_close(tensor, b["state_dict"][name], msg=name)
    with pytest.raises(PointerError, match="another model config"):
        other = _tiny_config(tiny_data, tmp_path / "other", epochs=3)
        other.model = dataclasses.replace(other.model, d_model=32)
        train(other, resume=str(tmp_path / "cut" / "latest.pt"))


def test_fine_tuning_starts_from_the_checkpoint_weights_with_fresh_counters(tiny_data, tmp_path, capsys):
    from pointer_baseline.checkpoint import read_checkpoint
    from pointer_baseline.trainers.pointer_trainer import main as train_main
    from pointer_baseline.trainers.pointer_trainer import train

    first = train(_tiny_config(tiny_data, tmp_path / "first", epochs=2))
    init = tmp_path / "first" / "best.pt"
    before = init.read_bytes()
    # a learning rate too small to move the weights: the fine-tuned run ends where the checkpoint stood
    tuned = train(_tiny_config(tiny_data, tmp_path / "tuned", epochs=1, learning_rate=1e-12, init_from=str(init)))
    assert tuned.epoch == 1 and tuned.step < first.step  # its own counters
    assert init.read_bytes() == before
    start, end = read_checkpoint(init)["state_dict"], read_checkpoint(tmp_path / "tuned" / "latest.pt")["state_dict"]
    for name, tensor in start.items():
        th.testing.assert_close(end[name], tensor, msg=name)
    scratch = train(_tiny_config(tiny_data, tmp_path / "scratch", epochs=1, learning_rate=1e-12))
    assert scratch.epoch == 1
    scratch_weights = read_checkpoint(tmp_path / "scratch" / "latest.pt")["state_dict"]
    assert any(not th.allclose(scratch_weights[k], start[k]) for k in start)  # not the random start
    with pytest.raises(PointerError, match="another model config"):
        other = _tiny_config(tiny_data, tmp_path / "other", epochs=1, init_from=str(init))
        other.model = dataclasses.replace(other.model, d_model=32)
        train(other)
    missing = ["--config", str(CONFIGS / "pointer_tiny.json"), "--init-from", str(tmp_path / "nope.pt")]
    assert train_main([*missing, "--save-dir", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "init_from" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_finetune_script_links_old_and_new_pairs_and_starts_from_the_checkpoint(tiny_data, tmp_path):
    """scripts/finetune_pointer.py: new pairs generated and cached, both sets linked (never copied) with the first
    new ones left out, and a fine-tuning run from the checkpoint's weights and training config."""
    import importlib.util

    from pointer_baseline.trainers.pointer_trainer import train

    train(_tiny_config(tiny_data, tmp_path / "base", epochs=1))
    spec = importlib.util.spec_from_file_location("finetune_pointer", REPO / "scripts" / "finetune_pointer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data_dir, cache_dir, _ = tiny_data
    work = tmp_path / "tuned"
    argv = ["--init-from", str(tmp_path / "base" / "best.pt"), "--data-dir", str(data_dir), "--cache-dir"]
    argv += [str(cache_dir), "--work-dir", str(work), "--extra-seed", "11", "--n-extra", "2", "--skip-first", "1"]
    assert module.main([*argv, "--budget-minutes", "0", "--threads", "1"]) == 0
    pointers = work / "combined" / "pointer_sequences"
    names = sorted(p.name[: -len("_pointers.npy")] for p in pointers.glob("*_pointers.npy"))
    assert names == ["a_synth_0000", "a_synth_0001", "b_synth_0001"]  # b_synth_0000 left out
    linked = [p for p in (work / "combined").rglob("*") if not p.is_dir()]
    assert linked and all(p.is_symlink() and p.resolve().is_file() for p in linked)
    assert (work / "combined" / "cache" / "features" / "b_synth_0001_raw.npz").is_symlink()
    saved = json.loads((work / "model" / "config.json").read_text())
    assert saved["init_from"] == str(tmp_path / "base" / "best.pt") and saved["learning_rate"] == 7e-4
    assert (work / "model" / "best.pt").is_file()

    # on a machine with no old pairs: new ones alone, made on two processes, with a chosen validation share
    alone = tmp_path / "alone"
    argv = ["--init-from", str(tmp_path / "base" / "best.pt"), "--work-dir", str(alone), "--extra-seed", "11"]
    argv += ["--n-extra", "2", "--skip-first", "0", "--workers", "2", "--val-fraction", "0.5", "--hard-steps", "0"]
    assert module.main([*argv, "--budget-minutes", "0", "--threads", "1", "--device", "cpu"]) == 0
    names = sorted(p.name for p in (alone / "combined" / "pointer_sequences").glob("*_pointers.npy"))
    assert names == ["b_synth_0000_pointers.npy", "b_synth_0001_pointers.npy"]
    saved = json.loads((alone / "model" / "config.json").read_text())
    assert saved["val_fraction"] == 0.5 and saved["hard_steps"] == 0
    with pytest.raises(SystemExit):  # nothing to train on
        module.main(["--init-from", str(tmp_path / "base" / "best.pt"), "--work-dir", str(alone), "--n-extra", "0"])


def test_beat_rows_and_an_edit_with_a_beat_feature_model(tiny_data, tmp_path):
    import soundfile as sf

    from editor_env.cache import load_analysis
    from pointer_baseline.checkpoint import save_checkpoint
    from pointer_baseline.data import beat_frame_features, load_sample, model_inputs
    from pointer_baseline.infer import pointer_edit_list

    data_dir, cache_dir, pointer_dir = tiny_data
    analysis = load_analysis(cache_dir, "synth_0000")
    rows = beat_frame_features(analysis)
    n_frames = analysis.mel.shape[1]
    assert rows.shape == (124, n_frames) and np.abs(rows[:121]).max() <= 1.0
    onsets = np.flatnonzero(rows[121])
    assert onsets.size == analysis.beats.times.size  # one onset frame per beat
    assert set(np.flatnonzero(rows[122])) <= set(onsets) and rows[122].sum() >= onsets.size // 8
    assert (rows[123][onsets] == 0).all() and 0 <= rows[123].min() and rows[123].max() < 1
    config = dataclasses.replace(TINY, use_beat_features=True)
    assert model_inputs(analysis, use_beat_features=True).shape == (config.n_inputs, n_frames)
    sample = load_sample(cache_dir, pointer_dir, "synth_0000", use_beat_features=True)
    assert sample.mel.shape == (252, n_frames)

    path = save_checkpoint(tmp_path / "beats.pt", PointerNetwork(config))  # untrained: continues to the end
    raw = data_dir / "input" / "synth_0000_raw.wav"
    edl = pointer_edit_list(raw, path, device="cpu")
    assert edl.sample_rate == 22050 and edl.raw_length == sf.info(raw).frames
    assert edl.meta["output_frames"] >= 1
    with pytest.raises(PointerError, match="input of 252 rows"):
        from pointer_baseline.infer import load_pointer_model, predict_pointers

        predict_pointers(load_pointer_model(path, "cpu"), analysis.mel)


def test_recurrence_rows_see_a_replayed_passage(tiny_data, tmp_path):
    from editor_env.cache import load_analysis
    from pointer_baseline.checkpoint import save_checkpoint
    from pointer_baseline.data import load_sample, recurrence_frame_features
    from pointer_baseline.infer import pointer_edit_list

    data_dir, cache_dir, pointer_dir = tiny_data
    analysis = load_analysis(cache_dir, "synth_0000")
    n_frames, n_beats = analysis.mel.shape[1], analysis.beats.times.size
    rows = recurrence_frame_features(analysis, 8)
    assert rows.shape == (16, n_frames) and np.abs(rows).max() <= 1.0 + 1e-6
    assert not rows[:8, : analysis.beats.frames()[1]].any()  # nothing lies before the first beat

    # beats 8.. replay beats 0.. exactly: the lag -8 row says "identical" there, lag +8 before it
    feats = np.asarray(analysis.features).copy()
    feats[8:16] = feats[0:8]
    replayed = dataclasses.replace(analysis, features=feats)
    rows = recurrence_frame_features(replayed, 8)
    beat_frames = analysis.beats.frames()
    assert rows[0, beat_frames[8]] == pytest.approx(1.0) and rows[8 + 7, beat_frames[0]] == pytest.approx(1.0)
    assert rows[0, beat_frames[min(20, n_beats - 1)]] < 0.99

    config = dataclasses.replace(TINY, use_beat_features=True, recurrence_lags=8)
    sample = load_sample(cache_dir, pointer_dir, "synth_0000", use_beat_features=True, recurrence_lags=8)
    assert sample.mel.shape == (config.n_inputs, n_frames) == (268, n_frames)
    path = save_checkpoint(tmp_path / "recurrence.pt", PointerNetwork(config))
    edl = pointer_edit_list(data_dir / "input" / "synth_0000_raw.wav", path, device="cpu")
    assert edl.meta["output_frames"] >= 1
    with pytest.raises(PointerError, match="recurrence_lags"):
        dataclasses.replace(TINY, recurrence_lags=-1)


def test_a_length_request_gets_the_beam_edits_and_the_greedy_one_unless_regions_are_locked(tiny_data, tmp_path):
    import soundfile as sf

    from editor_env.cache import load_analysis
    from editor_env.constraints import EditConstraints
    from pointer_baseline.checkpoint import save_checkpoint
    from pointer_baseline.infer import pointer_edit_lists

    data_dir, cache_dir, _ = tiny_data
    analysis = load_analysis(cache_dir, "synth_0000")
    raw = data_dir / "input" / "synth_0000_raw.wav"
    info = sf.info(raw)
    path = save_checkpoint(tmp_path / "tiny.pt", PointerNetwork(TINY))
    kwargs = dict(sample_rate=info.samplerate, raw_length=info.frames, device="cpu", n_candidates=2)
    edits = pointer_edit_lists(analysis, path, constraints=EditConstraints(target_ratio=0.67, slack_s=3.0), **kwargs)
    assert [e.meta.get("decoding") for e in edits] == ["constrained beam search"] * (len(edits) - 1) + ["greedy"]
    locked = EditConstraints(target_ratio=0.67, slack_s=3.0, keep_regions=[(0.5, 1.5)])
    edits = pointer_edit_lists(analysis, path, constraints=locked, **kwargs)
    assert edits and all(e.meta["decoding"] == "constrained beam search" for e in edits)


def test_validation_decodes_with_the_whole_beat_exits_inference_uses(tiny_data, monkeypatch):
    from pointer_baseline.data import load_sample
    from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig, evaluate, validation_exits
    from pointer_baseline.whole_beats import BeatExits

    _, cache_dir, pointer_dir = tiny_data
    samples = [load_sample(cache_dir, pointer_dir, name) for name in ("synth_0000", "synth_0001")]
    exits = validation_exits(cache_dir, samples)
    assert set(exits) == {"synth_0000", "synth_0001"}
    assert all(isinstance(e, BeatExits) and 15 < e.period < 40 for e in exits.values())  # 72-161 BPM
    th.manual_seed(0)
    model = PointerNetwork(dataclasses.replace(TINY, n_mels=128))
    seen = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda mel, **kw: seen.append(kw.get("exit_snap")) or decode(mel, **kw))
    metrics = evaluate(model, samples, PointerTrainConfig(model=model.config), "cpu", exits)
    assert seen == [exits["synth_0000"], exits["synth_0001"]] and 0 <= metrics["free_within5"] <= 1
