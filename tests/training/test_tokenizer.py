from transformers import BertConfig, BertModel

from training.config import ModelConfig
from training.model import TextEncoder
from training.tokenizer import encode, load_tokenizer, prepare_tokenizer, train_bpe

CORPUS = ["Small nodule in the right upper lobe.", "No pleural effusion.", "Left basal consolidation."] * 20


def test_a_trained_tokenizer_round_trips_through_its_folder(tmp_path):
    prepare_tokenizer(None, 400, tmp_path / "tok", CORPUS)
    tokenizer = load_tokenizer(tmp_path / "tok")
    ids, mask = encode(tokenizer, ["right upper lobe nodule", "effusion"], max_tokens=16)
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert tokenizer.convert_ids_to_tokens(int(ids[0, 0])) == "[CLS]" and mask[1].sum() < mask[0].sum()
    assert tokenizer.decode(ids[0], skip_special_tokens=True).strip() == "right upper lobe nodule"
    assert tokenizer.convert_ids_to_tokens(ids[0])[1:-1] == ["Ġright", "Ġupper", "Ġlobe", "Ġnodule"]


def test_training_a_tokenizer_twice_gives_the_same_vocabulary():
    texts = CORPUS + [f"opacity {i} in zone {i % 7}" for i in range(50)]
    assert train_bpe(texts, 350).get_vocab() == train_bpe(texts, 350).get_vocab()


def test_a_resumed_run_keeps_its_tokenizer_and_a_run_without_a_checkpoint_trains_it_again(tmp_path):
    prepare_tokenizer(None, 300, tmp_path, CORPUS)
    before = (tmp_path / "tokenizer.json").read_bytes()
    prepare_tokenizer(None, 300, tmp_path, ["an entirely different corpus"] * 10, keep=True)
    assert (tmp_path / "tokenizer.json").read_bytes() == before
    prepare_tokenizer(None, 300, tmp_path, ["an entirely different corpus"] * 10)  # a run that stopped before
    assert (tmp_path / "tokenizer.json").read_bytes() != before  # its first checkpoint left a stale one


def test_a_local_model_directory_gives_tokenizer_and_weights(tmp_path):
    local = tmp_path / "local-bert"
    train_bpe(CORPUS, 300).save_pretrained(str(local))
    bert = BertModel(BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64))
    bert.save_pretrained(str(local))
    prepare_tokenizer(str(local), 8000, tmp_path / "run", CORPUS)
    assert load_tokenizer(tmp_path / "run").get_vocab() == load_tokenizer(local).get_vocab()
    encoder = TextEncoder(ModelConfig(text_model=str(local)), vocab_size=300, max_tokens=32)
    weight = encoder.bert.embeddings.word_embeddings.weight
    assert encoder.width == 32 and weight.equal(bert.embeddings.word_embeddings.weight)
