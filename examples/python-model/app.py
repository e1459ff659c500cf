#!/usr/bin/env python3
"""A review-sentiment model server: scikit-learn TF-IDF (words and character
n-grams) + logistic regression, trained at start-up on corpus.tsv (600
labelled reviews beside this file, well under a second), served by Flask.

    POST /predict   body: the text (raw, as `curl -d 'text'` sends it) or
                    JSON {"text": "..."}; answers JSON with the label, the
                    class probabilities and the words that drove the decision
    GET  /health    200 once the model is trained (drover's health_path)
    GET  /          one line of usage

The explanation is occlusion: the text is scored again with each of its
words left out, and the words whose absence lowers the winning class most
are returned. That is what makes a request cost a few to tens of
milliseconds of CPU (one scoring per word), like the explainable
classifiers people serve, and what makes one request at a time per process
the right way to feed it (see README.md).

Run one single-threaded worker (what drover, or nginx's upstream, runs N of):

    python3 app.py --port 8101        # waitress, one request at a time
    gunicorn -w 4 -b :8000 app:app    # or the app object under gunicorn
"""
import argparse
import os
import re
import sys
import time

from flask import Flask, jsonify, request
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.environ.get("MODEL_CORPUS", os.path.join(HERE, "corpus.tsv"))
MAX_WORDS = 200          # words scored for the explanation (longer texts: the first 200)
MAX_TEXT = 20_000        # characters kept from a request
WORKER = os.environ.get("DROVER_PROCESS_NAME") or f"pid-{os.getpid()}"


def load_corpus(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            label, sep, text = line.partition("\t")
            if not sep:
                raise SystemExit(f"{path}:{number}: expected LABEL<TAB>TEXT")
            labels.append(label)
            texts.append(text)
    return texts, labels


def build_model():
    return Pipeline([
        ("features", FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ])),
        ("classifier", LogisticRegression(C=10.0, max_iter=2000)),
    ])


def train():
    started = time.perf_counter()
    texts, labels = load_corpus(CORPUS)
    # a holdout score for the log, then the model used for serving on everything
    cut = len(texts) * 4 // 5
    holdout = build_model().fit(texts[:cut], labels[:cut]).score(texts[cut:], labels[cut:])
    model = build_model().fit(texts, labels)
    elapsed = time.perf_counter() - started
    print(f"{WORKER}: trained on {len(texts)} reviews in {elapsed:.2f}s "
          f"(holdout accuracy {holdout:.1%}, {len(model.named_steps['features'].get_feature_names_out())} features)",
          file=sys.stderr, flush=True)
    return model


MODEL = train()
CLASSES = [str(c) for c in MODEL.classes_]
WORD = re.compile(r"\S+")

app = Flask(__name__)


def predict(text):
    words = WORD.findall(text)[:MAX_WORDS]
    # row 0: the text as sent; row i: the text without its i-th word
    variants = [text] + [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]
    probabilities = MODEL.predict_proba(variants)
    best = int(probabilities[0].argmax())
    # a word's weight: how much the winning class loses without it (the
    # largest loss where the word occurs more than once)
    weights = {}
    for row, word in zip(probabilities[1:], words):
        key = word.strip(".,;:!?\"'()").lower() or word
        weights[key] = max(weights.get(key, 0.0), float(probabilities[0][best] - row[best]))
    because = sorted(((w, k) for k, w in weights.items() if w > 0), reverse=True)[:5]
    return {
        "label": CLASSES[best],
        "confidence": round(float(probabilities[0][best]), 4),
        "probabilities": {c: round(float(p), 4) for c, p in zip(CLASSES, probabilities[0])},
        "because": [{"word": k, "weight": round(w, 4)} for w, k in because],
    }


@app.post("/predict")
def predict_route():
    started = time.process_time()
    if request.is_json:
        body = request.get_json(silent=True)
        text = body.get("text") if isinstance(body, dict) else None
    else:
        text = request.get_data(as_text=True)
    if not isinstance(text, str) or not text.strip():
        return jsonify(error="send the text as the body, or JSON {\"text\": ...}", code="empty_text"), 400
    answer = predict(text[:MAX_TEXT])
    answer["worker"] = WORKER
    answer["cpu_ms"] = round((time.process_time() - started) * 1000, 2)
    return jsonify(answer)


@app.get("/health")
def health():
    return jsonify(status="ok", worker=WORKER)


@app.get("/")
def index():
    return "POST /predict with a review as the body: curl -d 'I love it' localhost:8080/predict\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8101")))
    parser.add_argument("--server", choices=("waitress", "flask"), default="waitress",
                        help="waitress (default) or Flask's development server, both one request at a time")
    args = parser.parse_args()
    if args.server == "flask":
        app.run(host=args.host, port=args.port, threaded=False)
        return
    serve_waitress(args.host, args.port)


def serve_waitress(host, port):
    import logging
    import waitress
    # waitress warns "Task queue depth is N" whenever a request waits for the
    # one thread; with one thread by design that is noise, not news
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    print(f"{WORKER}: serving on http://{host}:{port} (waitress, 1 thread)", file=sys.stderr, flush=True)
    waitress.serve(app, host=host, port=port, threads=1, ident="model", _quiet=True)


# preload.conf: `python -m drover_preload app:load app:serve` imports this
# module once in a template (which trains MODEL above), then forks the workers.

def load():
    """The template's loader: importing the module trained the model already."""
    return MODEL


def serve(port):
    """One forked worker: it shares the template's trained model copy-on-write."""
    global WORKER
    WORKER = os.environ.get("DROVER_PROCESS_NAME") or f"pid-{os.getpid()}"
    serve_waitress(os.environ.get("HOST", "127.0.0.1"), port)


if __name__ == "__main__":
    main()
