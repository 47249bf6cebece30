"""Evaluation and diagnostics on frozen or fine-tuned models: linear evaluation by EVAR's
protocol on downstream tasks (``linear``, reading the data sets' published layouts through
``tasks``), the linear phone probe (``probe``), the teacher's hard regions against the real
losses (``diagnostics``) and the cost of hiding the hardest frames from a fine-tuned model
(``hard_region_effect``)."""
