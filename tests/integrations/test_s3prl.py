"""ehmam's s3prl upstreams and the compatibility layer, against s3prl's own code and sox."""
import argparse
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from ehmam.checkpoints import M2D, CheckpointError, plain_checkpoint
from ehmam.configs import config_to_dict
from ehmam.integrations.s3prl import UPSTREAMS, EhmamUpstream, compat, register
from ehmam.integrations.s3prl.upstream import UpstreamConfigError
from ehmam.models import EhmamModel, tiny_config
from ehmam.models.m2d import M2DModel, tiny_m2d_config

SR = 16_000


@pytest.fixture(scope="module")
def hub():
    register()
    from s3prl import hub
    return hub


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny EH-MAM in the plain loop's format and a tiny M2D in fairseq's, with random weights."""
    root = tmp_path_factory.mktemp("upstreams")
    torch.manual_seed(123)  # not the random-weights reference's seed
    ehmam = root / "ehmam.pt"
    torch.save(plain_checkpoint(EhmamModel(tiny_config()), steps=1, max_samples=16_000), ehmam)
    m2d_cfg = tiny_m2d_config()
    m2d = M2DModel(m2d_cfg)
    state = {"cfg": {"model": {"_name": M2D.name, **config_to_dict(m2d_cfg)}, "task": {"clip": {"seconds": 2.0}}},
             "model": {M2D.prefix + k: v for k, v in m2d.state_dict().items()}}
    torch.save(state, root / "m2d.pt")
    return {"ehmam_local": ehmam, "m2d_local": root / "m2d.pt"}


@pytest.fixture(scope="module")
def upstreams(hub, checkpoints):
    return {name: getattr(hub, name)(ckpt=str(path), model_config=None, refresh=False)
            for name, path in checkpoints.items()}


def clips(*lengths, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, generator=gen) for n in lengths]


@pytest.mark.parametrize("name, layers, dim, rate", [("ehmam_local", 5, 64, 320), ("m2d_local", 5, 5 * 64, 2560)])
def test_hidden_states_count_shapes_and_downsample_rate(upstreams, name, layers, dim, rate):
    upstream = upstreams[name]
    assert upstream.get_downsample_rates("hidden_states") == rate and isinstance(rate, int)
    lengths = (SR, 27_000, 40_000)
    hidden = upstream(clips(*lengths))["hidden_states"]
    assert len(hidden) == layers == upstream.num_layers
    frames = [upstream.encoder.num_frames(n) for n in lengths]
    for h in hidden:
        assert h.shape == (3, max(frames), dim)
    # the rate is the real frame spacing: rate more samples give exactly one more frame, and
    # s3prl's length from the rate (round(n / rate)) is the real count within the edges' one
    # frame (it tolerates 4)
    for n in (*lengths, 4_000, 10_000, 33_333, 64_000):
        count = upstream.encoder.num_frames(n)
        assert upstream.encoder.num_frames(n + rate) == count + 1
        assert abs(count - round(n / rate)) <= 1, (n, count)


@pytest.mark.parametrize("name", ["ehmam_local", "m2d_local"])
def test_an_utterances_features_are_the_same_alone_and_padded_in_a_batch(upstreams, name):
    upstream = upstreams[name]
    batch = clips(30_000, 12_000, 21_000, seed=2)
    together = upstream(batch)["hidden_states"]
    for row, wav in enumerate(batch):
        alone = upstream([wav])["hidden_states"]
        frames = alone[0].shape[1]
        for layer_batch, layer_alone in zip(together, alone):
            assert torch.allclose(layer_batch[row, :frames], layer_alone[0], atol=1e-5)
            assert not layer_batch[row, frames:].any(), "frames past the utterance are padding (zeros)"


def test_the_upstreams_are_frozen(upstreams):
    for upstream in upstreams.values():
        assert not any(p.requires_grad for p in upstream.parameters())
        out = upstream(clips(SR))["hidden_states"][-1]
        assert not out.requires_grad


def test_registered_names_resolve_through_s3prls_hub_and_s3prl_upstream(hub, checkpoints):
    from s3prl.nn import S3PRLUpstream

    assert set(UPSTREAMS) == {"ehmam_local", "m2d_local", "audio_mae_local", "jepa_local"}
    assert set(UPSTREAMS) <= set(hub.options())
    for name, path in checkpoints.items():
        wrapped = S3PRLUpstream(name, path_or_url=str(path))
        assert isinstance(wrapped.upstream, EhmamUpstream)
        wavs = torch.randn(2, 24_000)
        lengths = torch.tensor([24_000, 15_000])
        hidden, hidden_lengths = wrapped(wavs, lengths)
        assert len(hidden) == wrapped.num_layers == 5
        rate = wrapped.downsample_rates[0]
        assert hidden_lengths[0].tolist() == [(n - 1) // rate + 1 for n in (24_000, 15_000)]


def test_a_checkpoint_of_another_kind_or_none_is_refused(hub, checkpoints, tmp_path):
    with pytest.raises(CheckpointError, match="holds M2D weights, not EH-MAM"):
        hub.ehmam_local(ckpt=str(checkpoints["m2d_local"]))
    with pytest.raises(CheckpointError, match="holds EH-MAM weights, not audio JEPA"):
        hub.jepa_local(ckpt=str(checkpoints["ehmam_local"]))
    with pytest.raises(UpstreamConfigError, match="-k PATH"):
        hub.m2d_local(ckpt=None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("random_init: true\n")
    with pytest.raises(UpstreamConfigError, match="unknown option 'random_init'"):
        hub.ehmam_local(ckpt=str(checkpoints["ehmam_local"]), model_config=str(bad))


def test_the_random_weights_option_keeps_the_architecture_and_replaces_the_weights(hub, checkpoints, upstreams):
    from pathlib import Path

    config = Path(__file__).resolve().parents[2] / "examples" / "superb" / "random_weights.yaml"
    random = hub.ehmam_local(ckpt=str(checkpoints["ehmam_local"]), model_config=str(config))
    trained = upstreams["ehmam_local"]
    assert random.num_layers == trained.num_layers
    assert random.get_downsample_rates("hidden_states") == trained.get_downsample_rates("hidden_states")
    wav = clips(SR)
    a, b = random(wav)["hidden_states"][-1], trained(wav)["hidden_states"][-1]
    assert a.shape == b.shape and not torch.allclose(a, b)


# ---- the compatibility layer ---------------------------------------------------------------

def test_every_shim_says_what_it_replaces_and_s3prl_imports_with_them(hub):
    assert len(compat.SHIMS) == 7 and all(s.replaces and s.why for s in compat.SHIMS)
    import torchaudio
    from s3prl.downstream.runner import Runner
    from s3prl.downstream.speech_commands.dataset import apply_effects_file
    from s3prl.downstream.speech_commands.expert import DistributedSamplerWrapper
    assert apply_effects_file is compat.apply_effects_file
    assert DistributedSamplerWrapper is compat.DistributedSamplerWrapper
    assert callable(Runner.train) and torchaudio.set_audio_backend("sox_io") is None
    # s3prl's ctc data module imports its corpus readers relatively; they resolve to ours
    from s3prl.downstream.ctc.corpus.librispeech import LibriDataset
    from s3prl.downstream.ctc.corpus.snips import SnipsDataset
    from ehmam.integrations.s3prl import ctc_corpus
    assert LibriDataset is ctc_corpus.librispeech.LibriDataset and SnipsDataset is ctc_corpus.snips.SnipsDataset


def test_the_load_shim_matches_soundfile_and_names_an_unreadable_file(tmp_path):
    rng = np.random.default_rng(0)
    stereo = (rng.uniform(-0.5, 0.5, (3_000, 2)) * 32767).astype(np.int16)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 22_050, subtype="PCM_16")
    wav, rate = compat.load(path)
    assert rate == 22_050 and wav.shape == (2, 3_000) and wav.dtype == torch.float32
    assert torch.allclose(wav, torch.from_numpy(stereo.T / 32768.0).float())
    raw, _ = compat.load(path, normalize=False)
    assert raw.dtype == torch.int16 and torch.equal(raw, torch.from_numpy(stereo.T.copy()))
    part, _ = compat.load(path, frame_offset=100, num_frames=50, channels_first=False)
    assert torch.equal(part, wav.T[100:150])
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(compat.AudioReadError, match="junk.wav: cannot read audio"):
        compat.load(tmp_path / "junk.wav")


def sox(*args):
    subprocess.run(["sox", "-R", "-D", *map(str, args)], check=True, capture_output=True)


def test_the_sox_effects_shim_against_sox_itself(tmp_path):
    """s3prl's KS effects (channels 1, rate 16000, gain -3) on a real 44.1 kHz stereo file,
    against the file sox writes with the same effects."""
    source, expected = tmp_path / "source.wav", tmp_path / "sox.wav"
    # a chirp on the left, noise on the right: content across the band, different channels
    sox("-n", "-r", 44_100, "-c", 2, "-b", 32, "-e", "floating-point", source,
        "synth", 1.5, "sine", "100-7000", "pinknoise", "gain", -6)
    sox(source, "-b", 32, "-e", "floating-point", expected, "channels", 1, "rate", 16_000, "gain", -3.0)
    reference, rate = sf.read(expected, dtype="float32")
    got, got_rate = compat.apply_effects_file(str(source), [["channels", "1"], ["rate", "16000"], ["gain", "-3.0"]])
    assert got_rate == rate == 16_000 and got.shape == (1, len(reference))
    error = got[0].numpy() - reference
    snr = 10 * np.log10(np.sum(reference ** 2) / np.sum(error ** 2))
    assert snr > 40, f"resampled audio differs from sox's by {snr:.1f} dB SNR"
    # gain alone is exact: -3 dB is a factor of 10 ** (-3 / 20)
    mono, _ = compat.load(source)
    halved, _ = compat.apply_effects_tensor(mono, 44_100, [["gain", "-3"]])
    assert torch.allclose(halved, mono * 10 ** (-3 / 20))
    with pytest.raises(ValueError, match="'reverb'.*not supported"):
        compat.apply_effects_tensor(mono, 44_100, [["reverb", "50"]])


def test_the_runners_checkpoint_arguments_load_with_weights_only(tmp_path):
    compat.install()
    path = tmp_path / "states.ckpt"
    torch.save({"Args": argparse.Namespace(mode="train", seed=1), "Step": 3}, path)
    assert torch.load(path, weights_only=True)["Args"].seed == 1


def test_the_sampler_wrapper_shards_the_wrapped_samplers_draws():
    from torch.utils.data import WeightedRandomSampler

    weights = [1.0] * 10 + [5.0] * 3
    ranks = []
    for rank in range(3):
        torch.manual_seed(7)
        ranks.append(list(compat.DistributedSamplerWrapper(WeightedRandomSampler(weights, 13), 3, rank)))
    torch.manual_seed(7)
    draws = list(WeightedRandomSampler(weights, 13))
    assert [len(r) for r in ranks] == [5, 5, 5]
    padded = draws + draws[:2]
    assert [padded[i] for i in range(15)] == [ranks[i % 3][i // 3] for i in range(15)]
    with pytest.raises(ValueError, match="rank 3"):
        compat.DistributedSamplerWrapper(WeightedRandomSampler(weights, 13), 3, 3)


def test_hub_upload_placeholders_raise_with_the_fix():
    compat.install()
    import huggingface_hub

    with pytest.raises(RuntimeError, match="upload the experiment directory yourself"):
        huggingface_hub.HfFolder.get_token()
    with pytest.raises(RuntimeError, match="HfFolder and Repository"):
        huggingface_hub.Repository("x")


# ---- the launcher ---------------------------------------------------------------------------

def test_the_launcher_refuses_what_cannot_work_with_the_fix():
    from ehmam.superb import LauncherError, check_arguments

    with pytest.raises(LauncherError, match="frozen feature extractors"):
        check_arguments(["-m", "train", "-u", "ehmam_local", "-f", "-c", "x.yaml"])
    with pytest.raises(LauncherError, match="examples/superb/ks.yaml"):
        check_arguments(["-m", "train", "-u", "ehmam_local", "-d", "speech_commands"])
    with pytest.raises(LauncherError, match="--hub huggingface"):
        check_arguments(["-m", "train", "--hub", "huggingface", "-c", "x.yaml"])
    argv = check_arguments(["-m", "evaluate", "-e", "exp/dev-best.ckpt", "--device", "cpu"])
    assert argv == ["-m", "evaluate", "-e", "exp/dev-best.ckpt", "--device", "cpu"]


def test_the_launcher_lists_ehmams_upstreams_in_s3prls_help():
    out = subprocess.run([sys.executable, "-m", "ehmam.superb", "-h"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--upstream" in out.stdout and "ehmam_local" in out.stdout and "m2d_local" in out.stdout
