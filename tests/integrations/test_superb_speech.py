"""SUPERB's ASR, PR and SF data (manifests/superb_speech_sets.py) read by s3prl's own code: the
ctc corpus readers (ours, under s3prl's module name) with s3prl's tokenizers and collate
function, the bucket tables with s3prl's asr data set, the character dictionary with its
Dictionary, and s3prl's asr and ctc experts training a few steps on the sets."""
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml

from ehmam.integrations.s3prl import compat
from ehmam.integrations.s3prl.ctc_corpus import CorpusError
from manifests import superb_speech_sets as sets

REPO = Path(__file__).resolve().parents[2]
VOCAB = REPO / "examples" / "superb" / "vocab"
SF_SPEAKERS = {f"{split}_speakers": sorted(names) for split, names in sets.SF_SPEAKERS.items()}


@pytest.fixture(scope="module")
def s3prl():
    """s3prl's ctc text and data modules, with its corpus package resolving to ours."""
    compat.install()
    from s3prl.downstream.ctc import data, text
    return data, text


@pytest.fixture(scope="module")
def superb(demo_corpus, tmp_path_factory):
    """The command line's ``all`` on the 40-utterance demo corpus, with a tiny SNIPS."""
    out = tmp_path_factory.mktemp("superb")
    sets.main(["all", "--demo", str(demo_corpus), "--out", str(out), "--small", "--jobs", "2"])
    return out


def tokenizer(s3prl, mode):
    files = {"character": ("character.txt",), "word": ("phoneme.txt",),
             "character-slot": ("character.txt", "slots.txt")}
    return s3prl[1].load_text_encoder(mode, *(str(VOCAB / f) for f in files[mode]))


def dataset(s3prl, split, tok, name, batch_size=4, **corpus):
    splits = dict(train=["train-clean-100"], dev=["dev-clean"], test=["test-clean"]) if name != "snips" else \
        dict(train=["train"], dev=["valid"], test=["test"], **SF_SPEAKERS)
    return s3prl[0].create_dataset(split, tok, name, True, batch_size, **{**splits, **corpus})


def transcripts(tree):
    return dict(line.split(" ", 1) for t in tree.rglob("*.trans.txt") for line in t.read_text().splitlines())


# --- the readers on the generated layouts -----------------------------------------------------

def test_the_librispeech_tree_links_the_demo_audio_with_its_transcripts(superb, demo_corpus):
    tree = superb / "librispeech"
    uids = [line.split("\t") for line in (tree / "uids.tsv").read_text().splitlines()[1:]]
    assert len(uids) == 40
    text = transcripts(tree)
    for uid, split, demo_uid, voice in uids:
        speaker, chapter, _ = uid.split("-")
        wav = tree / sets.SUBSETS[split] / speaker / chapter / f"{uid}.wav"
        assert wav.is_symlink() and wav.resolve() == (demo_corpus / "wav" / split / f"{demo_uid}.wav").resolve()
        words = (demo_corpus / f"{split}.wrd").read_text().splitlines()
        demo_uids = [m.split("\t")[0] for m in (demo_corpus / f"{split}.meta.tsv").read_text().splitlines()[1:]]
        assert text[uid] == words[demo_uids.index(demo_uid)]
    # one speaker per espeak-ng voice, one chapter per speaker and split
    voices = {voice: uid.split("-")[0] for uid, _, _, voice in uids}
    assert len(set(voices.values())) == len(voices)


def test_librispeech_items_are_what_s3prls_collate_reads(s3prl, superb):
    tok = tokenizer(s3prl, "character")
    train, loader_batch = dataset(s3prl, "train", tok, "librispeech", path=str(superb / "librispeech"))
    assert loader_batch == 1 and len(train) == 32  # bucketed: the loader draws one bucket at a time
    lengths = [len(ids) for ids in train.text]
    assert lengths == sorted(lengths, reverse=True)  # buckets hold neighbours in label length
    bucket = train[len(train) - 1]  # the last bucket ends at the last utterance
    assert len(bucket) == 4 and all(type(item) is tuple for item in bucket)
    assert bucket[-1][0] == train.file_list[-1]
    wavs, labels, names = s3prl[0].collect_audio_batch([bucket], "train")
    text = transcripts(superb / "librispeech")
    for wav, ids, name in zip(wavs, labels, names):
        path = next(p for p, _ in bucket if p.name == f"{name}.wav")
        assert len(wav) == sf.info(str(path)).frames
        assert ids[-1] == tok.eos_idx and tok.decode(ids.tolist()) == text[name]
    dev, loader_batch = dataset(s3prl, "dev", tok, "librispeech", path=str(superb / "librispeech"))
    assert loader_batch == 1 and len(dev) == 4 and type(dev[0]) is tuple


def test_libriphone_labels_are_the_lexicon_phones_written_beside_it(s3prl, superb):
    tok = tokenizer(s3prl, "word")
    lexicon = superb / "libriphone" / "lexicon.txt"
    phones = {line.split(" ", 1)[0]: line.split(" ", 1)[1]
              for subset in ("train-clean-100", "dev-clean", "test-clean")
              for line in (superb / "libriphone" / f"{subset}.txt").read_text().splitlines()}
    assert len(phones) == 40
    vocabulary = set((VOCAB / "phoneme.txt").read_text().split())
    assert all(set(line.split("\t")[1].split()) <= vocabulary for line in lexicon.read_text().splitlines())
    test, _ = dataset(s3prl, "test", tok, "libriphone", path=str(superb / "librispeech"), lexicon=[str(lexicon)])
    assert len(test) == 4
    for path, ids in (test[i] for i in range(len(test))):
        assert tok.decode(ids) == phones[path.stem] and tok.unk_idx not in ids
    # an utterance's phones are its words' lexicon entries in turn, each what espeak-ng's en-us
    # voice speaks for the word alone
    entries = dict(line.split("\t") for line in lexicon.read_text().splitlines())
    text = transcripts(superb / "librispeech")
    assert all(phones[uid] == " ".join(entries[w] for w in text[uid].split()) for uid in phones)
    word = text[min(phones)].split()[0]
    assert entries[word].split() == sets.phonemize([word], jobs=1)[word]


def test_snips_items_bracket_each_slot_value_with_its_slot_tokens(s3prl, superb):
    tok = tokenizer(s3prl, "character-slot")
    snips = superb / "snips"
    assert (snips / "slots.txt").read_bytes() == (VOCAB / "slots.txt").read_bytes()
    iob = dict(line.split(" ", 1) for line in (snips / "all.iob.snips.txt").read_text().splitlines())
    for split, n_speakers in (("train", 8), ("dev", 4), ("test", 4)):
        data, _ = dataset(s3prl, split, tok, "snips", path=str(snips))
        speakers = SF_SPEAKERS[f"{dict(dev='valid').get(split, split)}_speakers"]
        assert len(data) == {"train": 8, "dev": 4, "test": 4}[split]  # --small: 8/4/4 sentences, 1 reader
        for path, ids in zip(data.file_list, data.text):
            assert path.stem.split("-")[0] in speakers
            words, tags = iob[path.stem].split("\t")
            words, tags = words.split()[1:-1], tags.split()[1:-1]
            expected, i = [], 0
            while i < len(words):  # a slot value: consecutive words with one slot name
                j = i
                while j + 1 < len(words) and tags[j + 1] == tags[i]:
                    j += 1
                value = " ".join(words[i:j + 1])
                expected.append(value if tags[i] == "O" else f"B-{tags[i]} {value} E-{tags[i]}")
                i = j + 1
            assert tok.decode(ids) == " ".join(expected)
    # character mode reads the plain transcripts
    plain, _ = dataset(s3prl, "test", tokenizer(s3prl, "character"), "snips", path=str(snips))
    assert [tokenizer(s3prl, "character").decode(ids) for ids in plain.text] == \
        [iob[p.stem].split("\t")[0][len("BOS "):-len(" EOS")] for p in plain.file_list]


def test_the_buckets_are_read_by_s3prls_asr_data_set(superb):
    from s3prl.downstream.asr.dataset import SequenceDataset
    from s3prl.downstream.asr.dictionary import Dictionary

    compat.install()
    tree, buckets = superb / "librispeech", superb / "len_for_bucket"
    table = pd.read_csv(buckets / "train-clean-100.csv")
    assert list(table.columns) == ["Unnamed: 0", "file_path", "length", "label"]
    assert table["label"].isna().all() and list(table["Unnamed: 0"]) == list(range(32))
    assert table["length"].is_monotonic_decreasing
    assert all(sf.info(str(tree / p)).frames == n for p, n in zip(table["file_path"], table["length"]))
    dictionary = Dictionary.load(str(VOCAB / "char.dict"))
    data = SequenceDataset("train", 4, dictionary, libri_root=str(tree), bucket_file=str(buckets),
                           train=["train-clean-100"])
    assert [x for bucket in data.X for x in bucket] == list(table["file_path"])  # every file, longest first
    wavs, labels, names = data.collate_fn([data[0]])
    text = transcripts(tree)
    for wav, label, name, length in zip(wavs, labels, names, table["length"]):
        assert len(wav) == length and label[-1] == dictionary.eos()
        assert dictionary.string(label[:-1]) == " ".join(text[name].replace(" ", "|")) + " |"
        assert dictionary.unk() not in label


def test_the_character_dictionary_is_fairseqs_and_regenerates(tmp_path):
    from s3prl.downstream.asr.dictionary import Dictionary

    compat.install()
    dictionary = Dictionary.load(str(VOCAB / "char.dict"))
    assert dictionary.symbols[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert sorted(dictionary.symbols[4:]) == sorted(["|", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'"])
    assert dictionary.symbols[4:6] == ["|", "E"]  # most frequent first
    sets.write_char_dict(sets.sentences_from_fortunes(), tmp_path / "char.dict")
    assert (tmp_path / "char.dict").read_bytes() == (VOCAB / "char.dict").read_bytes()
    sets.write_char_dict(["AB A", "B'"], tmp_path / "small.dict")
    counts = dict(line.split() for line in (tmp_path / "small.dict").read_text().splitlines())
    assert (counts["|"], counts["A"], counts["B"], counts["'"], counts["Z"]) == ("3", "2", "2", "1", "0")
    assert (VOCAB / "character.txt").read_text() == "".join(f"{c}\n" for c in " ABCDEFGHIJKLMNOPQRSTUVWXYZ'")


def test_the_sf_set_is_byte_for_byte_reproducible(tmp_path):
    first = sets.make_snips(tmp_path / "a", seed=5, **sets.SNIPS_SMALL)
    sets.make_snips(tmp_path / "b", seed=5, **sets.SNIPS_SMALL)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == first["summary"]["clips"] + 4  # + all.iob.snips.txt, all-trans.txt, slots.txt, task.json
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    sets.make_snips(tmp_path / "c", seed=6, **sets.SNIPS_SMALL)
    assert (tmp_path / "c" / "all.iob.snips.txt").read_text() != (tmp_path / "a" / "all.iob.snips.txt").read_text()


# --- errors -------------------------------------------------------------------------------------

def fake_tree(root, chapters):
    """A LibriSpeech tree of 10 ms silent 16 kHz WAV files (the readers check the headers, not
    the audio): ``{"<speaker>-<chapter>": [trans.txt lines]}`` in train-clean-100."""
    for name, lines in chapters.items():
        chapter = root / "train-clean-100" / name.replace("-", "/")
        chapter.mkdir(parents=True)
        (chapter / f"{name}.trans.txt").write_text("".join(line + "\n" for line in lines))
        for line in lines:
            if line.split():
                sf.write(chapter / f"{line.split()[0]}.wav", np.zeros(160, dtype=np.int16), 16_000)
    return root / "train-clean-100" / "1" / "2" / "1-2.trans.txt"


def read_tree(s3prl, root, mode="character", name=None, **corpus):
    name = name or ("libriphone" if mode == "word" else "librispeech")
    return dataset(s3prl, "train", tokenizer(s3prl, mode), name, path=str(root), **corpus)


def test_a_missing_transcript_file_is_named_with_the_fix(s3prl, tmp_path):
    trans = fake_tree(tmp_path, {"1-2": ["1-2-0000 HELLO"]})
    trans.unlink()
    with pytest.raises(CorpusError, match=rf"{re.escape(str(trans))}: transcript file missing .* Fix: restore it"):
        read_tree(s3prl, tmp_path)
    dev = re.escape(str(tmp_path / "dev-clean"))
    with pytest.raises(CorpusError, match=rf"{dev}: sub-set 'dev-clean' does not exist"):
        dataset(s3prl, "dev", tokenizer(s3prl, "character"), "librispeech", path=str(tmp_path))


def test_every_bad_transcript_line_is_reported_with_its_place(s3prl, tmp_path):
    trans = fake_tree(tmp_path, {"1-2": ["1-2-0000 HELLO", "1-2-0001", "1-2-0002 HELLO", "9-9-0003 HI",
                                         "1-2-0004 HÉLLO"]})
    (trans.parent / "1-2-0002.wav").unlink()
    (trans.parent / "1-2-0005.wav").touch()
    with pytest.raises(CorpusError) as error:
        read_tree(s3prl, tmp_path)
    message = str(error.value)
    assert f"{trans}:2: malformed line '1-2-0001'" in message
    assert f"{trans}:3: utterance 1-2-0002 has 0 audio files" in message
    assert f"{trans}:4: malformed line '9-9-0003 HI'" in message
    assert f"{trans.parent / '1-2-0005.wav'}: no transcript line for 1-2-0005" in message
    assert message.count("Fix:") == 4 and message.startswith("4 problem(s) in the corpus:")
    trans = fake_tree(tmp_path / "accents", {"1-2": ["1-2-0000 HELLO", "1-2-0001 HÉLLO"]})
    with pytest.raises(CorpusError, match=rf"{re.escape(str(trans))}:2: 'HÉLLO' holds tokens outside the "
                                          r"vocabulary \('É'\), which CharacterTextEncoder would read as <unk>"):
        read_tree(s3prl, tmp_path / "accents")


def test_audio_the_upstreams_cannot_take_is_refused_before_training(s3prl, tmp_path):
    """The ctc readers share ehmam's LibriSpeech reader, so they check the headers as the
    fairseq manifests do: s3prl would feed an 8 kHz or stereo file to a 16 kHz upstream as is."""
    trans = fake_tree(tmp_path, {"1-2": ["1-2-0000 HELLO", "1-2-0001 HELLO", "1-2-0002 HELLO"]})
    sf.write(trans.parent / "1-2-0000.wav", np.zeros(80, dtype=np.int16), 8_000)
    sf.write(trans.parent / "1-2-0001.wav", np.zeros((160, 2), dtype=np.int16), 16_000)
    with pytest.raises(CorpusError) as error:
        read_tree(s3prl, tmp_path)
    message = str(error.value)
    assert message.startswith("2 problem(s)")
    assert f"{trans.parent / '1-2-0000.wav'}: sample rate is 8000 Hz, expected 16000 Hz" in message
    assert f"{trans.parent / '1-2-0001.wav'}: audio has 2 channels, expected mono" in message


def test_libriphone_names_missing_words_and_bad_lexicon_lines(s3prl, tmp_path):
    trans = fake_tree(tmp_path / "tree", {"1-2": ["1-2-0000 HELLO WORLD"]})
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("HELLO\th @ l oU\n")
    with pytest.raises(CorpusError, match=rf"{re.escape(str(trans))}:1: word\(s\) WORLD are not in the lexicon"):
        read_tree(s3prl, tmp_path / "tree", "word", lexicon=[str(lexicon)])
    lexicon.write_text("HELLO\th @ l oU\nWORLD\tw 3: l d XX\n\nBAD\n")
    with pytest.raises(CorpusError) as error:
        read_tree(s3prl, tmp_path / "tree", "word", lexicon=[str(lexicon)])
    assert f"{lexicon}:2: phone(s) XX of WORLD are not in the phone vocabulary" in str(error.value)
    assert f"{lexicon}:4: malformed line 'BAD'" in str(error.value)
    lexicon.write_text("HELLO\th @ l oU\nWORLD\tw 3: l d\nHELLO\tx\n")  # the first pronunciation wins
    data, _ = read_tree(s3prl, tmp_path / "tree", "word", lexicon=[str(lexicon)])
    assert tokenizer(s3prl, "word").decode(data.text[0]) == "h @ l oU w 3: l d"
    with pytest.raises(CorpusError, match="needs text.mode 'word'"):
        read_tree(s3prl, tmp_path / "tree", "character", "libriphone", lexicon=[str(lexicon)])
    with pytest.raises(CorpusError, match="lexicon file does not exist"):
        read_tree(s3prl, tmp_path / "tree", "word", lexicon=[str(tmp_path / "none.txt")])


def test_snips_names_bad_lines_unknown_slots_and_speakers(s3prl, tmp_path):
    (tmp_path / "train").mkdir()
    for uid in ("Adam-snips-train-0", "Adam-snips-train-1", "Caleb-snips-train-0"):
        (tmp_path / "train" / f"{uid}.wav").touch()
    iob = tmp_path / "all.iob.snips.txt"
    iob.write_text("Adam-snips-train-0 BOS PLAY JAZZ EOS\tO O genre PlayMusic\n"
                   "Adam-snips-train-1 BOS PLAY JAZZ EOS\tO O PlayMusic\n"
                   "Caleb-snips-train-0 BOS PLAY POLKA EOS\tO O dance PlayMusic\n")
    tok = tokenizer(s3prl, "character-slot")
    corpus = dict(path=str(tmp_path), train=["train"], train_speakers=["Adam", "Caleb"])
    with pytest.raises(CorpusError, match=rf"{re.escape(str(iob))}:2: 2 words but 1 slot tags"):
        s3prl[0].create_dataset("train", tok, "snips", True, 2, **corpus)
    iob.write_text(iob.read_text().replace("EOS\tO O PlayMusic", "EOS\tO O genre PlayMusic"))
    with pytest.raises(CorpusError, match=rf"{re.escape(str(iob))}:3: slot\(s\) dance are not in the slots file"):
        s3prl[0].create_dataset("train", tok, "snips", True, 2, **corpus)
    data, _ = s3prl[0].create_dataset("train", tok, "snips", True, 2, **{**corpus, "train_speakers": ["Adam"]})
    assert sorted(p.stem for p in data.file_list) == ["Adam-snips-train-0", "Adam-snips-train-1"]
    with pytest.raises(CorpusError, match="no recording of speaker Zoe .* Fix: remove the speaker"):
        s3prl[0].create_dataset("train", tok, "snips", True, 2, **{**corpus, "train_speakers": ["Adam", "Zoe"]})
    with pytest.raises(CorpusError, match="corpus.train_speakers: None"):
        s3prl[0].create_dataset("train", tok, "snips", True, 2, path=str(tmp_path), train=["train"])
    (tmp_path / "train" / "Adam-snips-train-7.wav").touch()
    with pytest.raises(CorpusError, match="Adam-snips-train-7.wav: no line for Adam-snips-train-7"):
        s3prl[0].create_dataset("train", tok, "snips", True, 2, **{**corpus, "train_speakers": ["Adam"]})


def test_a_lexicon_phone_outside_the_vocabulary_is_refused(superb, tmp_path):
    vocab = tmp_path / "phoneme.txt"
    vocab.write_text("".join(p + "\n" for p in (VOCAB / "phoneme.txt").read_text().split() if p != "@"))
    with pytest.raises(sets.SetError, match=r"phones outside .* Fix: python manifests/superb_speech_sets.py vocab"):
        sets.make_lexicon(superb / "librispeech", tmp_path / "lexicon.txt", vocab, jobs=1)


# --- s3prl's experts on the sets --------------------------------------------------------------

class _Logger:
    def add_scalar(self, *args, **kwargs):
        pass


@pytest.mark.parametrize("task", ["pr", "sf", "asr"])
def test_s3prls_experts_train_on_the_sets_and_score_them(s3prl, superb, pretrained, tmp_path, task):
    """Construction from our config (smaller BLSTMs), two training steps on the weighted sum of
    a pretrained EH-MAM's hidden states (ehmam_local, as the runner feeds them), then a dev
    pass and its metrics (PER; slot F1 and CER; WER)."""
    from s3prl import hub
    from s3prl.upstream.interfaces import Featurizer

    from ehmam.integrations.s3prl import register

    config = yaml.safe_load((REPO / "examples" / "superb" / f"{task}.yaml").read_text())["downstream_expert"]
    data = {"pr": dict(path=str(superb / "librispeech"), lexicon=[str(superb / "libriphone" / "lexicon.txt")]),
            "sf": dict(path=str(superb / "snips")),
            "asr": dict(libri_root=str(superb / "librispeech"), bucket_file=str(superb / "len_for_bucket"))}[task]
    config["datarc" if task == "asr" else "corpus"].update(data, num_workers=0, batch_size=4)
    model = config["modelrc" if task == "asr" else "model"]
    model["project_dim"], model["RNNs"]["dim"] = 32, [32] * len(model["RNNs"]["dim"])
    if task == "asr":
        from s3prl.downstream.asr.expert import DownstreamExpert
    else:
        from s3prl.downstream.ctc.expert import DownstreamExpert
    register()
    torch.manual_seed(0)
    upstream = hub.ehmam_local(ckpt=str(pretrained))
    featurizer = Featurizer(upstream, upstream_device="cpu")  # what the runner feeds the expert
    expert = DownstreamExpert(upstream_dim=featurizer.output_dim, upstream_rate=featurizer.downsample_rate,
                              downstream_expert=config, expdir=str(tmp_path))

    def features(wavs):
        wavs = [torch.as_tensor(w) for w in wavs]
        with torch.no_grad():
            return featurizer(wavs, upstream(wavs))

    optimizer = torch.optim.Adam(expert.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in expert.parameters()]
    batches = iter(expert.get_dataloader("train"))
    for _ in range(2):
        wavs, labels, names = next(batches)[:3]
        loss = expert("train", features(wavs), labels, names, defaultdict(list))
        assert math.isfinite(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, expert.parameters()) if a.requires_grad)

    dev = "dev-clean" if task == "asr" else "dev"
    if task != "asr":  # s3prl's ctc load_dataset pops num_workers from the corpus config: set it again
        expert.corpus["num_workers"] = 0
    expert.eval()
    records = defaultdict(list)
    with torch.no_grad():
        for wavs, labels, names in (batch[:3] for batch in expert.get_dataloader(dev)):
            expert(dev, features(wavs), labels, names, records)
    expert.log_records(dev, records, _Logger(), 0, batch_ids=[], total_batch_num=1)
    hypotheses = next(tmp_path.glob(f"{dev}*hyp.ark")).read_text().splitlines()
    assert len(hypotheses) == 4  # every dev utterance scored once
