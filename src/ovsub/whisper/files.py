"""The file names of a model folder, in one place: what ``convert.py`` writes and the loaders read.

Why one module: the converter writes these names, ``models.py`` checks them, and both decode loops
open them; spelt in each module, a renamed file would break only one side. Most names are fixed
by others: OpenVINO GenAI's ``WhisperPipeline`` opens a folder laid out as an optimum export
(``openvino_*`` and the Hugging Face JSON files), and CTranslate2 and Hugging Face name the files
of the models we convert from. The ``ovsub_*`` graphs and the manifest are ovsub's own.

Each ``.xml`` graph has its weights beside it in a ``.bin`` of the same stem, which OpenVINO writes
and reads along with it.
"""

from __future__ import annotations

# --- graphs (OpenVINO IR) -------------------------------------------------------------------------

ENCODER_MODEL = "openvino_encoder_model.xml"  # log-mel features -> encoder states (both loops)
DECODER_MODEL = "openvino_decoder_model.xml"  # the stateful decoder GenAI's WhisperPipeline drives
TOKENIZER_MODEL = "openvino_tokenizer.xml"  # text -> token ids (OpenVINO Tokenizers IR), for GenAI
DETOKENIZER_MODEL = "openvino_detokenizer.xml"  # token ids -> text (OpenVINO Tokenizers IR), for GenAI
CROSS_KV_MODEL = "ovsub_cross_kv_model.xml"  # encoder states -> cross-attention keys/values (ovsub's loop)
STEP_DECODER_MODEL = "ovsub_decoder_model.xml"  # the batched step decoder ovsub's own loop drives

# --- configuration and tokenizer (JSON) -----------------------------------------------------------

GENERATION_CONFIG = "generation_config.json"  # special tokens, languages, suppressed tokens, alignment heads
CONFIG = "config.json"  # model shape, Hugging Face style (GenAI reads max_source_positions)
PREPROCESSOR_CONFIG = "preprocessor_config.json"  # log-mel settings, Hugging Face style (read by GenAI)
TOKENIZER_JSON = "tokenizer.json"  # Hugging Face tokenizer with the timestamp tokens; ovsub's loop decodes with it
MANIFEST = "ovsub-model.json"  # what a cache entry was built from, and every output's size (models.py)

# --- what each decode loop needs ------------------------------------------------------------------

GENAI_REQUIRED = (  # what OpenVINO GenAI's WhisperPipeline reads from a model folder
    ENCODER_MODEL,
    DECODER_MODEL,
    TOKENIZER_MODEL,
    DETOKENIZER_MODEL,
    GENERATION_CONFIG,
)
NATIVE_REQUIRED = (  # what ovsub's own decode loop (native.NativeTranscriber) reads
    ENCODER_MODEL,
    CROSS_KV_MODEL,
    STEP_DECODER_MODEL,
    GENERATION_CONFIG,
    TOKENIZER_JSON,
)

# --- the folders we convert from ------------------------------------------------------------------
# A CTranslate2 model holds CT2_WEIGHTS, CONFIG (its own: alignment heads, suppressed tokens) and
# TOKENIZER_JSON; a Hugging Face checkpoint holds CONFIG, *.safetensors and maybe GENERATION_CONFIG.

CT2_WEIGHTS = "model.bin"  # CTranslate2's weights (the bundled packages ship it in parts)
SAFETENSORS_GLOB = "*.safetensors"  # a Hugging Face checkpoint's weights, one or more files
