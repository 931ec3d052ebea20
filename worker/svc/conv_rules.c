/* Deterministic conversation analysis (see conv_rules.h). Phrases are
 * matched on a folded copy of the text (ASCII and Latin-1 capitals
 * lowered, the typographic apostrophe made ASCII) at word starts. */
#include "worker/svc/conv_rules.h"

#include <stdlib.h>
#include <string.h>

#define FOLD_MAX 4096 /* bytes of a text the rules read (the start of a long one) */

enum { L_EN = 0, L_FR = 1 };

/* Lower-case copy for matching; cut at FOLD_MAX. */
static void fold(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; s && s[i] && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') {
            out[o++] = (char)(c + 32);
        } else if (c == 0xC3 && s[i + 1] && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9E && (unsigned char)s[i + 1] != 0x97 &&
                   o + 2 < cap) {
            out[o++] = (char)c;
            out[o++] = (char)((unsigned char)s[++i] + 0x20);
        } else if (c == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
                   (unsigned char)s[i + 2] == 0x99) { /* ’ */
            out[o++] = '\'';
            i += 2;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Does any phrase of the NULL-terminated list occur as words (a phrase
 * ending in '*' is a stem: any word continuing it matches)? */
static int has_any(const char *text, const char *const *phrases)
{
    char ph[64];
    for (; *phrases; phrases++) {
        size_t pl = strlen(*phrases);
        int stem = pl && (*phrases)[pl - 1] == '*';
        if (stem) pl--;
        if (pl == 0 || pl >= sizeof ph) continue;
        memcpy(ph, *phrases, pl);
        ph[pl] = '\0';
        for (const char *p = strstr(text, ph); p; p = strstr(p + 1, ph)) {
            if (p != text && is_word_byte((unsigned char)p[-1])) continue;
            if (stem || !is_word_byte((unsigned char)p[pl])) return 1;
        }
    }
    return 0;
}

static const char *const PRICING[] = {"price*", "pricing",    "cost",       "costs",   "expensive",
                                      "budget", "afford*",    "too much",   "cheaper", "fees",
                                      "prix",   "tarif*",     "coût",       "cout",    "cher",
                                      "chère",  "trop élevé", "les moyens", "facture", NULL};
static const char *const INTEREST[] = {
    "interested",   "interesting", "sounds good",     "i like",         "i love",      "appealing",
    "tell me more", "curious",     "intéress*",       "ça me plaît",    "ca me plait", "j'aime",
    "pas mal",      "séduisant",   "dites-m'en plus", "en savoir plus", NULL};
static const char *const NOT_INTERESTED[] = {"not interested", "not really interested",
                                             "pas intéress*",  "plus intéress*",
                                             "aucun intérêt",  NULL};
static const char *const HESITATION[] = {
    "not sure",  "i don't know", "i dont know",   "maybe",          "think about",
    "need time", "more time",    "hesitat*",      "unsure",         "perhaps",
    "concern*",  "pas sûr",      "pas sur",       "je ne sais pas", "peut-être",
    "réfléchir", "hésit*",       "plus de temps", "inquiet*",       NULL};
static const char *const STRONG[] = {"not interested",
                                     "no way",
                                     "never",
                                     "cancel*",
                                     "stop calling",
                                     "waste of",
                                     "unacceptable",
                                     "ridiculous",
                                     "absolutely not",
                                     "pas intéress*",
                                     "hors de question",
                                     "jamais",
                                     "annuler",
                                     "résili*",
                                     "inacceptable",
                                     "arrêtez",
                                     "ridicule",
                                     "absolument pas",
                                     NULL};
static const char *const URGENCY[] = {"urgent*",
                                      "asap",
                                      "as soon as possible",
                                      "today",
                                      "right now",
                                      "immediately",
                                      "deadline",
                                      "this week",
                                      "quickly",
                                      "dès que possible",
                                      "aujourd'hui",
                                      "tout de suite",
                                      "immédiatement",
                                      "rapidement",
                                      "délai",
                                      "cette semaine",
                                      "vite",
                                      NULL};
static const char *const COMPETITOR[] = {"competitor",
                                         "other provider",
                                         "another provider",
                                         "another vendor",
                                         "other vendor",
                                         "elsewhere",
                                         "alternative*",
                                         "switch to",
                                         "concurren*",
                                         "autre fournisseur",
                                         "ailleurs",
                                         "moins cher chez",
                                         NULL};
static const char *const BUYING[] = {"let's do it",
                                     "sign up",
                                     "where do i sign",
                                     "ready to",
                                     "send me the contract",
                                     "go ahead",
                                     "on signe",
                                     "je signe",
                                     "allons-y",
                                     "envoyez-moi le contrat",
                                     "je suis prêt",
                                     "c'est parti",
                                     NULL};
static const char *const FRENCH_WORDS[] = {
    " je ",   " le ",   " la ",  " les ", " pas ", " est ",  " vous ", " mais ", "c'est", " nous ",
    " trop ", " pour ", " une ", " des ", " que ", " très ", " avec ", " du ",   " ça ",  NULL};

int conv_rules_french(const char *text)
{
    char f[FOLD_MAX + 2];
    f[0] = ' ';
    fold(text, f + 1, sizeof f - 2);
    size_t n = strlen(f);
    f[n] = ' ';
    f[n + 1] = '\0';
    int words = 0;
    for (const char *const *w = FRENCH_WORDS; *w; w++) words += strstr(f, *w) != NULL;
    static const char *const accents[] = {"é", "è", "à", "ç", "ê", "ù", "â", "ô", "î", NULL};
    int acc = 0;
    for (const char *const *a = accents; *a; a++) acc += strstr(f, *a) != NULL;
    return words >= 2 || (words >= 1 && acc >= 1);
}

static int label_is(const char *v, const char *const *names)
{
    for (; v && *names; names++)
        if (strcmp(v, *names) == 0) return 1;
    return 0;
}

/* How many earlier client turns raised the price. */
static int earlier_pricing(const conv_turn_t *t, size_t n)
{
    int k = 0;
    char f[FOLD_MAX];
    for (size_t i = 0; i + 1 < n; i++) {
        if (!t[i].speaker || strcmp(t[i].speaker, "client") != 0) continue;
        fold(t[i].text, f, sizeof f);
        k += has_any(f, PRICING);
    }
    return k;
}

static void client_signals(const conv_turn_t *t, size_t n, const char *f, conv_suggestion_t *o)
{
    static const char *const unsure[] = {"uncertain", "hesitant", "confused",
                                         "doubtful",  "worried",  "anxious",
                                         "incertain", "hésitant", NULL};
    static const char *const angry[] = {"anger",  "angry",  "frustrated", "frustration", "annoyed",
                                        "colère", "énervé", "agacé",      NULL};
    const conv_turn_t *cur = &t[n - 1];
    int neg = cur->sentiment && strcmp(cur->sentiment, "negative") == 0;
    int pricing = has_any(f, PRICING), strong = has_any(f, STRONG);
    int repeated = pricing && earlier_pricing(t, n) > 0;
    if (pricing) conv_sugg_add_signal(o, SIG_PRICING);
    if (repeated) conv_sugg_add_signal(o, SIG_REPEATED);
    if (has_any(f, INTEREST) && !has_any(f, NOT_INTERESTED)) conv_sugg_add_signal(o, SIG_INTEREST);
    if (has_any(f, HESITATION) || label_is(cur->emotion, unsure))
        conv_sugg_add_signal(o, SIG_HESITATION);
    if (has_any(f, URGENCY)) conv_sugg_add_signal(o, SIG_URGENCY);
    if (has_any(f, COMPETITOR)) conv_sugg_add_signal(o, SIG_COMPETITOR);
    if (has_any(f, BUYING)) conv_sugg_add_signal(o, SIG_BUYING);
    if (label_is(cur->emotion, angry)) conv_sugg_add_signal(o, SIG_FRUSTRATION);
    /* Escalation: a refusal, a price raised again with a negative tone,
     * or anger over the price. */
    if (strong || (repeated && neg) || (pricing && label_is(cur->emotion, angry)))
        conv_sugg_add_signal(o, SIG_STRONG);
}

/* The questions and direction of one signal, in both languages. */
typedef struct advice {
    const char *signal;
    const char *q[2][2];
    const char *dir[2];
} advice_t;

static const advice_t ADVICE[] = {
    {SIG_STRONG,
     {{"What would need to change for this to work for you?",
       "Which part of the offer is the main obstacle?"},
      {"Qu'est-ce qui devrait changer pour que cela vous convienne ?",
       "Quel point de l'offre est le principal obstacle ?"}},
     {"Acknowledge the objection, stop pushing, and ask what would make the offer acceptable.",
      "Reconnaissez l'objection, cessez d'insister et demandez ce qui rendrait l'offre "
      "acceptable."}},
    {SIG_REPEATED,
     {{"If we found a way to fit your budget, would you move forward?",
       "Which budget did you have in mind?"},
      {"Si nous trouvions une solution adaptée à votre budget, iriez-vous plus loin ?",
       "Quel budget aviez-vous en tête ?"}},
     {"The price has come up again: propose a concrete option (smaller plan, staged payment) "
      "instead of repeating the value pitch.",
      "Le prix revient : proposez une option concrète (formule réduite, paiement échelonné) "
      "plutôt que de répéter l'argumentaire."}},
    {SIG_PRICING,
     {{"What specific aspect of the pricing concerns you?",
       "Would you like to see a detailed breakdown?"},
      {"Quel aspect du prix vous préoccupe le plus ?",
       "Souhaitez-vous voir le détail des coûts ?"}},
     {"Address pricing concerns while reinforcing value proposition.",
      "Répondez aux inquiétudes sur le prix tout en renforçant la proposition de valeur."}},
    {SIG_COMPETITOR,
     {{"What do you like about the other offer?", "Which criteria matter most in your comparison?"},
      {"Qu'appréciez-vous dans l'autre offre ?",
       "Quels critères comptent le plus dans votre comparaison ?"}},
     {"Differentiate on value without criticising the competitor.",
      "Différenciez-vous sur la valeur sans dénigrer le concurrent."}},
    {SIG_HESITATION,
     {{"What would help you feel confident about this decision?",
       "Is there any information missing for you to decide?"},
      {"Qu'est-ce qui vous aiderait à vous sentir en confiance pour décider ?",
       "Vous manque-t-il une information pour vous décider ?"}},
     {"Reassure the client and clarify the remaining doubts before moving on.",
      "Rassurez le client et levez les doutes restants avant d'avancer."}},
    {SIG_URGENCY,
     {{"By when do you need a solution in place?", "What happens if this is not solved in time?"},
      {"Pour quand avez-vous besoin d'une solution ?",
       "Que se passe-t-il si ce n'est pas réglé à temps ?"}},
     {"Confirm the deadline and propose the fastest path to get started.",
      "Confirmez l'échéance et proposez le chemin le plus rapide pour démarrer."}},
    {SIG_BUYING,
     {{"Shall we go over the next steps together?", "Who else needs to approve the decision?"},
      {"Voulez-vous que nous passions en revue les prochaines étapes ?",
       "Qui d'autre doit valider la décision ?"}},
     {"Move to closing: summarise the agreement and set the next step.",
      "Passez à la conclusion : résumez l'accord et fixez la prochaine étape."}},
    {SIG_INTEREST,
     {{"Which feature interests you the most?", "How would you use it day to day?"},
      {"Quelle fonctionnalité vous intéresse le plus ?",
       "Comment l'utiliseriez-vous au quotidien ?"}},
     {"Build on the interest: connect the offer to the client's needs.",
      "Appuyez-vous sur cet intérêt : reliez l'offre aux besoins du client."}},
    {SIG_FRUSTRATION,
     {{"I understand this is frustrating; what has been the hardest part?",
       "How can I make this easier for you?"},
      {"Je comprends que ce soit frustrant ; qu'est-ce qui a été le plus difficile ?",
       "Comment puis-je vous faciliter les choses ?"}},
     {"Show empathy and lower the tension before going further.",
      "Montrez de l'empathie et faites baisser la tension avant d'aller plus loin."}},
};

static const char *const NEUTRAL_Q[2][2] = {
    {"Could you tell me more about your needs?", "What matters most to you in this decision?"},
    {"Pouvez-vous m'en dire plus sur vos besoins ?",
     "Qu'est-ce qui compte le plus pour vous dans cette décision ?"}};
static const char *const NEUTRAL_DIR[2] = {
    "Keep the conversation open and explore the client's needs.",
    "Gardez la conversation ouverte et explorez les besoins du client."};
static const char *const AGENT_DIR[2] = {
    "Let the client react, then check that the explanation was clear.",
    "Laissez le client réagir, puis vérifiez que l'explication était claire."};
static const char *const AGENT_Q[2][2] = {
    {"Does that answer your question?", "What do you think of this option?"},
    {"Est-ce que cela répond à votre question ?", "Que pensez-vous de cette option ?"}};

/* Questions and direction from the signals, strongest first: the first
 * signal with advice gives the direction; questions come from the first
 * two such signals (at most three). */
static void advise(conv_suggestion_t *o, int lang, int agent)
{
    int used = 0;
    for (size_t i = 0; i < sizeof ADVICE / sizeof ADVICE[0] && used < 2; i++) {
        const advice_t *a = &ADVICE[i];
        if (!conv_sugg_has_signal(o, a->signal)) continue;
        if (!used) {
            strncpy(o->direction, a->dir[lang], CONV_DIR_LEN - 1);
            conv_sugg_add_question(o, a->q[lang][0]);
            conv_sugg_add_question(o, a->q[lang][1]);
        } else {
            conv_sugg_add_question(o, a->q[lang][0]);
        }
        used++;
    }
    if (used) return;
    const char *const(*q)[2] = agent ? AGENT_Q : NEUTRAL_Q;
    strncpy(o->direction, agent ? AGENT_DIR[lang] : NEUTRAL_DIR[lang], CONV_DIR_LEN - 1);
    conv_sugg_add_question(o, q[lang][0]);
    conv_sugg_add_question(o, q[lang][1]);
}

void conv_rules_analyze(const conv_turn_t *t, size_t n, conv_suggestion_t *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) {
        conv_rules_default(0, out);
        return;
    }
    const conv_turn_t *cur = &t[n - 1];
    char *f = malloc(FOLD_MAX);
    if (!f) {
        conv_rules_default(0, out);
        return;
    }
    fold(cur->text, f, FOLD_MAX);
    int lang = conv_rules_french(cur->text) ? L_FR : L_EN;
    int agent = cur->speaker && strcmp(cur->speaker, "agent") == 0;
    if (!agent) client_signals(t, n, f, out);
    free(f);
    advise(out, lang, agent);
}

void conv_rules_default(int french, conv_suggestion_t *out)
{
    memset(out, 0, sizeof *out);
    int lang = french ? L_FR : L_EN;
    conv_sugg_add_question(out, NEUTRAL_Q[lang][0]);
    strncpy(out->direction, NEUTRAL_DIR[lang], CONV_DIR_LEN - 1);
}
