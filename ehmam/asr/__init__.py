"""The ASR route after fine-tuning: greedy CTC decoding (``decode``), lexicon beam search
with a KenLM n-gram (``beam_search``), building the n-gram and lexicon (``language_model``),
and character/word error rates (``error_rates``)."""
