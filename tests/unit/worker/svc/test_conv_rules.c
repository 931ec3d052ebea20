/* Unit tests for worker/svc/conv_rules.c: signals in English and French,
 * the history (a second pricing objection is stronger), the language of
 * the advice, determinism. */
#include "tests/unit/unit.h"
#include "worker/svc/conv_rules.h"

#define T(sp, text, sent, emo)                                                                     \
    {                                                                                              \
        sp, sent, emo, text                                                                        \
    }

static conv_suggestion_t analyse(const conv_turn_t *t, size_t n)
{
    conv_suggestion_t s;
    conv_rules_analyze(t, n, &s);
    return s;
}

static void test_seed_example(void)
{
    conv_turn_t t[] = {
        T("client", "I'm interested but the pricing concerns me.", "negative", "uncertain")};
    conv_suggestion_t s = analyse(t, 1);
    CHECK_EQ_INT(s.ns, 3);
    CHECK_EQ_STR(s.signals[0], SIG_PRICING);
    CHECK_EQ_STR(s.signals[1], SIG_INTEREST);
    CHECK_EQ_STR(s.signals[2], SIG_HESITATION);
    CHECK_EQ_STR(s.direction, "Address pricing concerns while reinforcing value proposition.");
    CHECK_EQ_STR(s.questions[0], "What specific aspect of the pricing concerns you?");
    CHECK_EQ_STR(s.questions[1], "Would you like to see a detailed breakdown?");
    CHECK(s.nq == 3);
}

static void test_french_signals_and_advice(void)
{
    conv_turn_t t[] = {T("client", "ÇA M'INTÉRESSE, mais le prix me paraît élevé 🤔",
                         "neutral", "neutral")};
    conv_suggestion_t s = analyse(t, 1);
    CHECK(conv_sugg_has_signal(&s, SIG_PRICING));
    CHECK(conv_sugg_has_signal(&s, SIG_INTEREST));
    CHECK(!conv_sugg_has_signal(&s, SIG_STRONG));
    CHECK_EQ_STR(s.questions[0], "Quel aspect du prix vous préoccupe le plus ?");
    CHECK(conv_rules_french("Il nous faut une réponse aujourd’hui."));
    CHECK(!conv_rules_french("We need an answer today."));
}

static void test_second_pricing_objection_is_stronger(void)
{
    conv_turn_t t[] = {
        T("client", "The price is high.", "negative", "neutral"),
        T("agent", "It includes support.", "positive", "neutral"),
        T("client", "It still costs too much.", "negative", "neutral"),
    };
    conv_suggestion_t first = analyse(t, 1), second = analyse(t, 3);
    CHECK(conv_sugg_has_signal(&first, SIG_PRICING));
    CHECK(!conv_sugg_has_signal(&first, SIG_STRONG));
    CHECK(conv_sugg_has_signal(&second, SIG_REPEATED));
    CHECK(conv_sugg_has_signal(&second, SIG_STRONG));
    /* the agent's turns never count as objections */
    conv_turn_t a[] = {T("agent", "The price is high.", "negative", "neutral"),
                       T("client", "The price?", "neutral", "neutral")};
    conv_suggestion_t s = analyse(a, 2);
    CHECK(!conv_sugg_has_signal(&s, SIG_REPEATED));
}

static void test_other_signals_and_word_boundaries(void)
{
    conv_turn_t u[] = {
        T("client", "We need this ASAP, a competitor is cheaper.", "neutral", "neutral")};
    conv_suggestion_t s = analyse(u, 1);
    CHECK(conv_sugg_has_signal(&s, SIG_URGENCY));
    CHECK(conv_sugg_has_signal(&s, SIG_COMPETITOR));
    CHECK(conv_sugg_has_signal(&s, SIG_PRICING));
    conv_turn_t n[] = {
        T("client", "Je ne suis pas intéressé, hors de question.", "negative", "anger")};
    s = analyse(n, 1);
    CHECK(conv_sugg_has_signal(&s, SIG_STRONG));
    CHECK(!conv_sugg_has_signal(&s, SIG_INTEREST));
    CHECK(conv_sugg_has_signal(&s, SIG_FRUSTRATION));
    CHECK_EQ_STR(s.direction, "Reconnaissez l'objection, cessez d'insister et demandez ce qui "
                              "rendrait l'offre acceptable.");
    /* "cher" is a word, not the start of "chercher"; "costume" is no cost */
    conv_turn_t w[] = {T("client", "Je cherche un costume.", "neutral", "neutral")};
    s = analyse(w, 1);
    CHECK_EQ_INT(s.ns, 0);
    CHECK(s.nq == 2 && s.direction[0]);
}

static void test_agent_and_default(void)
{
    conv_turn_t t[] = {T("agent", "Let me explain the price.", "positive", "neutral")};
    conv_suggestion_t s = analyse(t, 1);
    CHECK_EQ_INT(s.ns, 0);
    CHECK_EQ_STR(s.questions[0], "Does that answer your question?");
    conv_rules_default(1, &s);
    CHECK_EQ_INT(s.nq, 1);
    CHECK(strstr(s.direction, "conversation") != NULL);
    conv_suggestion_t a = analyse(t, 1), b = analyse(t, 1);
    CHECK(memcmp(&a, &b, sizeof a) == 0); /* deterministic */
}

int main(void)
{
    RUN(test_seed_example);
    RUN(test_french_signals_and_advice);
    RUN(test_second_pricing_objection_is_stronger);
    RUN(test_other_signals_and_word_boundaries);
    RUN(test_agent_and_default);
    return UNIT_SUMMARY();
}
