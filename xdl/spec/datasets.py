"""The facts about the data sets that the models' contracts are made of: vocabulary sizes,
sequence lengths, the tag set, the user and item counts, CartPole's state and action sizes.

They live here, below the specs, and not in xdl.data beside the generators that use them,
because a spec (xdl.spec.zoo) is read wherever a model is judged: `xdl verify` reads an
artifact's registered contract and must load no data-set code to do it. The data-set modules
import their sizes from here, so each fact has one value.
"""

SENTIMENT_MAX_LENGTH = 500  # the article's input length
SENTIMENT_NUM_WORDS = 10_000  # the article's vocabulary size (the Embedding's input dim)

PARAPHRASES_MAX_LENGTH = 16  # the longest sentence (the start id, a clause of up to 6 words, 6 filler words) is 13
# The embedding's input dim: the ids below sentiment's first word (3), its 56 clause words, then
# the 200 filler words paraphrases uses (tests/data/test_zoo_data.py recomputes it from the corpus).
PARAPHRASES_NUM_WORDS = 259

ENTITIES_NUM_WORDS = 5_000  # the tagger's vocabulary (the Embedding's input dim)
ENTITIES_TAGS = ("<pad>", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC")

RATINGS_USERS, RATINGS_ITEMS = 943, 1682  # MovieLens-100k's

# cart position, cart velocity, pole angle, pole angular velocity; push left, right
CARTPOLE_STATE, CARTPOLE_ACTIONS = 4, 2
