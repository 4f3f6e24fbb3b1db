"""The one place that names default checkpoints on the Hugging Face Hub."""

#: COCO-trained RT-DETR: person boxes (label "person").
DEFAULT_PERSON_DETECTOR = "PekingU/rtdetr_r50vd_coco_o365"
#: ViTPose-base trained on COCO: 17 body keypoints per person box.
DEFAULT_POSE_MODEL = "usyd-community/vitpose-base-simple"

#: Vision-language model that proposes and describes the shots (boxes on a 0-1000 grid).
DEFAULT_VLM = "Qwen/Qwen3-VL-4B-Instruct"
#: Checkpoints known to follow ShotCrop's prompt; any Qwen3-VL / Qwen2.5-VL repo loads.
KNOWN_VLMS = (
    "Qwen/Qwen3-VL-2B-Instruct",
    "Qwen/Qwen3-VL-4B-Instruct",
    "Qwen/Qwen3-VL-8B-Instruct",
    "Qwen/Qwen2.5-VL-3B-Instruct",
    "Qwen/Qwen2.5-VL-7B-Instruct",
)

#: CLIP ViT-L/14 for pseudo-labels: crop-description similarity and the aesthetic head's input.
DEFAULT_CLIP = "openai/clip-vit-large-patch14"
#: LAION aesthetic predictor sac+logos+ava1-l14-linearMSE as safetensors (docs/training_pseudo.md).
DEFAULT_AESTHETIC_HEAD = "ttj/sac-logos-ava1-l14-linearMSE"
#: The weights file inside DEFAULT_AESTHETIC_HEAD's repo.
DEFAULT_AESTHETIC_HEAD_FILE = "model.safetensors"
#: VLM judging pseudo-label candidates: the base instruct model, not the stage-1 model it grades.
DEFAULT_JUDGE = DEFAULT_VLM
