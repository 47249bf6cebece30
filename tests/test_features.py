import pytest
import torch

from ehmam.features import extract_features
from ehmam.models import EhmamModel, tiny_config


def test_features_of_a_padded_batch_equal_each_utterance_alone():
    torch.manual_seed(0)
    model = EhmamModel(tiny_config()).train()
    gen = torch.Generator().manual_seed(1)
    waves = [torch.randn(6_000, generator=gen), torch.randn(9_600, generator=gen)]
    feats = extract_features(model, waves)
    assert model.training, "the caller's mode is restored"
    assert len(feats.layers) == 4
    assert feats.frames.shape == (2, 29, 64) and feats.hidden.shape == (2, 29, 64)
    assert feats.padding_mask[0].sum() == 29 - 18 and not feats.padding_mask[1].any()
    alone = extract_features(model, waves[0])
    assert alone.padding_mask is None
    for layer, single in zip(feats.layers, alone.layers):
        assert torch.allclose(layer[0, :18], single[0], atol=1e-4)


def test_bad_inputs():
    model = EhmamModel(tiny_config())
    with pytest.raises(ValueError, match="1-D"):
        extract_features(model, [torch.randn(2, 6_000)])
    with pytest.raises(ValueError, match="no waveforms"):
        extract_features(model, [])


# ---- the feature API: load_encoder, AudioEncoder ----------------------------------------

import numpy as np  # noqa: E402

from ehmam.checkpoints import CheckpointError, StudentEncoder, plain_checkpoint  # noqa: E402
from ehmam.features import EhmamEncoder, EncoderInputError, load_encoder  # noqa: E402
from ehmam.models.frontends.waveform import normalize_waveform  # noqa: E402

CHUNK = 8_000  # the tiny encoder's training crop: 0.5 s


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return EhmamEncoder(StudentEncoder(tiny_config()), training_samples=CHUNK)


def reference_frames(encoder, wav, start, length):
    """Independent of the API's batching: one chunk alone through the student, every layer."""
    piece = wav[start: start + length][None]
    frames, out = encoder.student.encode(normalize_waveform(piece))
    return [frames[0]] + [x[0] for x in out.layers]


def test_a_clip_gets_the_same_frames_alone_or_in_a_batch_of_longer_and_shorter_ones(encoder):
    gen = torch.Generator().manual_seed(1)
    clips = [torch.randn(n, generator=gen) for n in (6_000, 9_600, 3_000)]
    batch = encoder.frame_features(clips, sample_rate=16_000, layer="all")
    assert batch.features.shape == (5, 3, 29, 64)  # 5 layers (front end + 4), longest has 29 frames
    for row, clip in enumerate(clips):
        alone = encoder.frame_features(clip, sample_rate=16_000, layer="all")
        frames = encoder.num_frames(len(clip))
        assert alone.features.shape[2] == frames and not alone.padding_mask.any()
        assert batch.padding_mask[row].tolist() == [False] * frames + [True] * (29 - frames)
        assert torch.allclose(batch.features[:, row, :frames], alone.features[:, 0], atol=1e-5)
        assert not batch.features[:, row, frames:].any(), "padding frames are zeros"


def test_long_audio_gives_the_concatenation_of_its_chunks_frames(encoder):
    gen = torch.Generator().manual_seed(2)
    wav = torch.randn(37_123, generator=gen)
    got = encoder.frame_features(wav, sample_rate=16_000, layer="all").features[:, 0]
    starts = encoder.chunk_starts(len(wav))
    assert starts == list(range(0, len(wav), encoder.chunk_step))[: len(starts)] and len(starts) == 5
    expected = [reference_frames(encoder, wav, s, CHUNK) for s in starts]
    expected = torch.stack([torch.cat([chunk[layer] for chunk in expected]) for layer in range(5)])
    assert got.shape == expected.shape == (5, encoder.num_frames(len(wav)), 64)
    assert torch.allclose(got, expected, atol=1e-5)
    # the chunk grid is the single-pass grid: frame i starts at sample i * hop
    assert encoder.chunk_step % encoder.hop == 0


def test_one_call_for_a_1_s_clip_and_a_10_min_recording(encoder):
    for seconds in (1, 600):
        wav = torch.randn(seconds * 16_000)
        frames = encoder.frame_features(wav, sample_rate=16_000, batch_size=64)
        assert frames.features.shape == (1, (seconds * 16_000 - 400) // 320 + 1, 64)
        assert torch.isfinite(frames.features).all()
        stamps = frames.timestamps
        assert torch.allclose(stamps.diff(), torch.full_like(stamps[1:], 0.02))
        assert stamps[0] == 0.0125 and stamps[-1] <= seconds


def test_clip_features_are_the_mean_over_each_clips_own_frames(encoder):
    clips = [torch.randn(6_000), torch.randn(12_000)]
    clip = encoder.clip_features(clips, sample_rate=16_000)
    for row, wav in enumerate(clips):
        frames = encoder.frame_features(wav, sample_rate=16_000).features[0]
        assert torch.allclose(clip[row], frames.mean(0), atol=1e-5)
    assert encoder.clip_features(np.zeros((2, 4_000), dtype=np.float32), 16_000, layer=2).shape == (2, 64)


@pytest.mark.parametrize("audio, rate, message", [
    (torch.randn(8_000), 44_100, r"audio at 44100 Hz, but this model takes 16000 Hz\. Fix: resample"),
    (torch.randn(2, 2, 8_000), 16_000, r"shape \(2, 2, 8000\).*Stereo or multi-channel\? Fix: average"),
    ([torch.randn(8_000), torch.randn(2, 8_000)], 16_000, r"clip 1 has shape \(2, 8000\).*Stereo"),
    ([torch.randn(8_000), torch.zeros(0)], 16_000, r"clip 1 is empty \(0 samples\)"),
    (torch.randn(399), 16_000, r"clip 0 has 399 samples, fewer than the model's receptive field of 400 \(25 ms\)"),
    ([], 16_000, r"no audio"),
    (torch.tensor([0.0, float("nan")] * 300), 16_000, r"clip 0 holds NaN"),
])
def test_bad_audio_is_refused_with_the_fix(encoder, audio, rate, message):
    with pytest.raises(EncoderInputError, match=message):
        encoder.frame_features(audio, sample_rate=rate)


def test_bad_layer(encoder):
    with pytest.raises(ValueError, match=r"layer=7: expected 'all' or an index in \[-5, 4\]"):
        encoder.frame_features(torch.randn(4_000), 16_000, layer=7)


def test_load_encoder_reads_the_plain_loop_and_refuses_missing_and_foreign_files(tmp_path):
    torch.manual_seed(3)
    model = EhmamModel(tiny_config())
    path = tmp_path / "plain.pt"
    torch.save(plain_checkpoint(model, steps=5, max_samples=12_000), path)
    loaded = load_encoder(path)
    assert (loaded.training_samples, loaded.feature_dim, loaded.num_layers, loaded.hop) == (12_000, 64, 4, 320)
    wav = torch.randn(10_000)
    expected = extract_features(model, wav)
    assert torch.allclose(loaded.frame_features(wav, 16_000).features, expected.hidden, atol=1e-5)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_encoder(tmp_path / "missing.pt")
    foreign = tmp_path / "w2v.pt"
    torch.save({"model": {}, "cfg": {"model": {"_name": "wav2vec2"}}}, foreign)
    with pytest.raises(CheckpointError, match=r"holds a fairseq 'wav2vec2' model, not one of ehmam's \(EH-MAM, M2D, Audio-MAE / MSM-MAE, audio JEPA\)"):
        load_encoder(foreign)


def test_load_encoder_reads_fairseq_pretraining_and_fine_tuned_checkpoints(pretrained, finetuned):
    from ehmam.checkpoints import read_checkpoint

    pre = load_encoder(pretrained)
    fine_path = finetuned[0] / "checkpoint_last.pt"
    fine = load_encoder(fine_path)
    assert pre.training_samples == fine.training_samples == read_checkpoint(pretrained)["cfg"]["task"]["max_sample_size"]
    state = read_checkpoint(fine_path)["model"]
    name = "encoder.layers.0.fc1.weight"
    assert torch.equal(fine.student.state_dict()[name], state[f"w2v_encoder.w2v_model.ehmam.{name}"])
    wav = torch.randn(20_000)
    assert not torch.allclose(pre.clip_features(wav, 16_000), fine.clip_features(wav, 16_000)), \
        "fine-tuning changed the encoder"


# ---- a spectrogram ViT behind the same API (M2D's convention) ---------------------------

from ehmam.features import SpectrogramViTEncoder  # noqa: E402
from ehmam.models.encoders.vit import ViTConfig, ViTEncoder  # noqa: E402
from ehmam.models.frontends.log_mel import LogMelConfig, LogMelFrontend  # noqa: E402


@pytest.fixture(scope="module")
def vit_encoder():
    torch.manual_seed(4)
    vit = ViTEncoder(ViTConfig(embed_dim=32, depth=2, heads=4))  # 16 x 16 patches, CLS token
    return SpectrogramViTEncoder(LogMelFrontend(LogMelConfig(norm_mean=-5.0, norm_std=3.0)), vit,
                                 training_frames=96)


def test_vit_frames_concatenate_each_time_steps_frequency_patches(vit_encoder):
    # 76 mel frames: 4 whole patch columns of 5 frequency rows, and 12 frames that M2D's
    # encode_lms pads (with zeros, after normalisation) into a fifth column
    wav = torch.randn(12_000)
    got = vit_encoder.frame_features(wav, 16_000).features[0]
    assert (vit_encoder.feature_dim, vit_encoder.hop) == (5 * 32, 2560) and got.shape == (5, 160)
    log_mel = vit_encoder.frontend(wav[None])
    assert log_mel.shape[-1] == 76
    out = vit_encoder.vit(torch.cat([log_mel, torch.zeros(1, 1, 80, 4)], dim=-1))
    tokens = out.hidden[0, 1:]  # without CLS; patch n = row * 5 + column
    for column in range(5):
        expected = torch.cat([tokens[row * 5 + column] for row in range(5)])
        assert torch.allclose(got[column], expected, atol=1e-5)
    stamps = vit_encoder.frame_features(wav, 16_000).timestamps
    assert torch.allclose(stamps, (torch.arange(5) * 16 + 7.5).double() / 100)  # centre of 16 mel frames


def test_vit_long_audio_is_the_concatenation_of_its_chunks(vit_encoder):
    wav = torch.randn(40_000)
    got = vit_encoder.frame_features(wav, 16_000, layer="all").features[:, 0]
    step = vit_encoder.chunk_step
    assert step == 96 * 160 and vit_encoder.chunk_starts(len(wav)) == [0, step, 2 * step]
    expected = [vit_encoder.encode_chunks(wav[s: s + vit_encoder.training_samples][None])
                for s in (0, step, 2 * step)]
    expected = torch.stack([torch.cat([chunk[layer][0] for chunk in expected]) for layer in range(3)])
    # 96 + 96 + 59 mel frames: 6 + 6 + 4 columns, the last one padded
    assert got.shape == expected.shape == (3, 16, 160)
    assert torch.allclose(got, expected, atol=1e-5)


def test_vit_plugs_into_linear_evaluation_and_hear_unchanged(vit_encoder, tmp_path):
    import soundfile as sf

    from ehmam.evaluation.linear import clip_features
    from ehmam.evaluation.tasks import Clip, TaskData
    from ehmam.integrations import hear

    clips = []
    for i in range(3):
        sf.write(str(tmp_path / f"{i}.wav"), np.random.default_rng(i).normal(size=20_000) * 0.1, 16_000)
        clips.append(Clip(tmp_path / f"{i}.wav", "a", "train", None))
    features = clip_features(vit_encoder, TaskData("spcv2", tmp_path, tuple(clips), 1, 1.0), -1, 1.0,
                             progress=False)
    assert features.shape == (3, 160)
    model = hear.HearModel(vit_encoder)
    assert model.repeat == 4 and model.timestamp_embedding_size == 160
    audio = torch.rand(2, 32_000) * 2 - 1
    embeddings, stamps = hear.get_timestamp_embeddings(audio, model)
    # 96 + 96 + 9 mel frames: 6 + 6 + 1 (padded) columns
    assert embeddings.shape == (2, 13 * 4, 160) and stamps.shape == (2, 52)
    assert torch.allclose(stamps.diff(dim=1), torch.full((2, 51), 40.0))  # 160 ms columns at 4 points
    # the padded last column is centred at 1995 ms; its 4 points reach 60 ms either side
    assert stamps[0, 0] == 75 - 60 and stamps[0, -1] == 1995 + 60
    assert torch.equal(embeddings[:, 0], embeddings[:, 3]) and not torch.equal(embeddings[:, 3], embeddings[:, 4])
    assert torch.allclose(hear.get_scene_embeddings(audio, model), embeddings.mean(1), atol=1e-5)


def test_random_init_keeps_the_architecture_and_changes_the_weights(encoder, vit_encoder):
    for enc in (encoder, vit_encoder):
        fresh = enc.randomly_initialised(seed=7)
        assert type(fresh) is type(enc) and fresh.feature_dim == enc.feature_dim
        assert fresh.training_samples == enc.training_samples
        again = enc.randomly_initialised(seed=7)
        wav = torch.randn(20_000)
        a, b = (e.clip_features(wav, 16_000) for e in (fresh, again))
        assert torch.equal(a, b) and not torch.allclose(a, enc.clip_features(wav, 16_000))


def test_concatenate_layers_puts_each_frames_layers_side_by_side_layer_0_first():
    from ehmam.features import concatenate_layers

    x = torch.randn(3, 2, 4, 5)  # L x B x T x D
    y = concatenate_layers(x)
    assert y.shape == (2, 4, 15)
    for b in range(2):
        for t in range(4):
            assert torch.equal(y[b, t], torch.cat([x[layer, b, t] for layer in range(3)]))
    assert concatenate_layers(x[:, :, 0]).shape == (2, 15)
