"""ehmam: Easy-to-Hard Masked Acoustic Modeling and friends, as a fairseq extension.

Install with ``bash scripts/setup.sh``: torch/torchaudio and fairseq need a fixed order
(fairseq compiles against the installed torch) that plain ``pip install .`` cannot express,
so the heavy pins live in that script and are repeated here only as requirements.
"""
from setuptools import find_packages, setup

setup(
    name="ehmam",
    version="0.1.0",
    description="Self-supervised speech and audio representation learning (EH-MAM) on fairseq",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["ehmam", "ehmam.*"]),
    install_requires=[
        "torch==2.11.0",
        "torchaudio==2.11.0",
        "numpy>=1.21.3,<2",
        "soundfile>=0.12",
        "hydra-core==1.3.2",
        "omegaconf==2.3.0",
        "matplotlib>=3.8,<3.10",  # figures written by scripts/ (Agg backend, no display needed)
        "editdistance>=0.8,<0.9",  # UER/WER: fairseq's ctc criterion and ehmam.asr.decode
        # LM decoding: torchaudio's ctc_decoder runs flashlight's lexicon decoder, whose cp311
        # wheel bundles KenLM; the kenlm module queries LMs (its lmplz/build_binary tools come
        # from scripts/build_kenlm.sh, same release).
        "flashlight-text==0.0.7",
        "kenlm==0.3.0",
        # fairseq-fixed==0.12.3.1 is required too; scripts/setup.sh installs it with
        # --no-build-isolation after torch, which a dependency list cannot do.
    ],
    extras_require={"test": [
        "pytest>=8", "pytest-timeout>=2.3",
        # independent references for the spectrogram blocks: M2D's log-mel front end is
        # nnAudio's; benchmarks/vit.py and a test compare our ViT blocks with timm's.
        # torchvision (timm's dependency) pinned to torch 2.11's release, or pip upgrades torch.
        "nnAudio==0.3.4", "timm==1.0.31", "torchvision==0.26.0",
    ]},
    entry_points={"console_scripts": ["ehmam-decode=ehmam.asr.decode:main",
                                      "ehmam-lm=ehmam.asr.language_model:main",
                                      "ehmam-launch=ehmam.launch:main",
                                      "ehmam-export-hf=ehmam.export_hf:main"]},
)
