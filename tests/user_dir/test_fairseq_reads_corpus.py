"""fairseq's own readers (FileAudioDataset, and AddTargetDataset through its CTC task) read our corpus back."""
import torch
from fairseq.data import AddTargetDataset, FileAudioDataset
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask
from omegaconf import OmegaConf

from ehmam.data.audio import read_audio
from ehmam.data.labels import letters_to_words
from ehmam.data.manifest import read_manifest
from manifests.make_demo_corpus import SPLITS


def test_file_audio_dataset_reads_every_utterance(demo_corpus):
    for split in SPLITS:
        manifest = read_manifest(demo_corpus / f"{split}.tsv")
        ds = FileAudioDataset(str(demo_corpus / f"{split}.tsv"), sample_rate=16000,
                              min_sample_size=0, shuffle=False)
        assert len(ds) == len(manifest.entries)
        assert ds.sizes.tolist() == [e.num_samples for e in manifest.entries]
        for i, entry in enumerate(manifest.entries):
            expected = torch.from_numpy(read_audio(manifest.audio_path(entry)))
            torch.testing.assert_close(ds[i]["source"], expected)


def test_audio_finetuning_task_reads_letters_back(demo_corpus):
    """fairseq's CTC task wraps the audio in AddTargetDataset with dict.ltr.txt."""
    cfg = OmegaConf.structured(AudioFinetuningConfig(data=str(demo_corpus), labels="ltr", tpu=False, seed=1))
    task = AudioFinetuningTask.setup_task(cfg)
    dictionary = task.target_dictionary
    for split in SPLITS:
        task.load_dataset(split)
        ds = task.datasets[split]
        assert isinstance(ds, AddTargetDataset)
        ltr = (demo_corpus / f"{split}.ltr").read_text().splitlines()
        wrd = (demo_corpus / f"{split}.wrd").read_text().splitlines()
        for i in range(len(ds)):
            target = ds[i]["label"]
            assert dictionary.unk() not in target.tolist()
            assert dictionary.string(target) == ltr[i]
            assert letters_to_words(dictionary.string(target)) == wrd[i]
        batch = ds.collater([ds[i] for i in range(len(ds))])
        assert batch["target"].shape[0] == len(ds)
        assert batch["target_lengths"].tolist() == [len(l.split()) for l in ltr]
