"""What the sign-up pages say when they turn something down, in English, German and Spanish.

Every rejection names what to do next. Messages are plain text (the page template escapes
them); ``{...}`` fields are filled by ``say``.
"""

from __future__ import annotations

from typing import Any

from notifier.messaging.render import normalize_locale

__all__ = ["MESSAGES", "say"]

MESSAGES: dict[str, dict[str, str]] = {
    "csrf": {
        "en": "This form has expired or was opened in another browser. Reload the page and "
        "send it again.",
        "de": "Dieses Formular ist abgelaufen oder wurde in einem anderen Browser geöffnet. "
        "Laden Sie die Seite neu und senden Sie es noch einmal.",
        "es": "Este formulario caducó o se abrió en otro navegador. Vuelva a cargar la página "
        "y envíelo de nuevo.",
    },
    "rate_ip": {
        "en": "Too many sign-ups from your connection. Please wait {minutes} minutes and try "
        "again.",
        "de": "Zu viele Anmeldungen von Ihrer Verbindung. Bitte warten Sie {minutes} Minuten "
        "und versuchen Sie es dann erneut.",
        "es": "Demasiadas inscripciones desde su conexión. Espere {minutes} minutos y vuelva "
        "a intentarlo.",
    },
    "rate_phone": {
        "en": "Too many sign-ups for numbers like this one. Please wait {minutes} minutes, or "
        "sign up by email instead.",
        "de": "Zu viele Anmeldungen für ähnliche Nummern. Bitte warten Sie {minutes} Minuten "
        "oder melden Sie sich per E-Mail an.",
        "es": "Demasiadas inscripciones para números como este. Espere {minutes} minutos o "
        "inscríbase por correo electrónico.",
    },
    "channel": {
        "en": "Choose how we should reach you: text message or email.",
        "de": "Wählen Sie, wie wir Sie erreichen sollen: SMS oder E-Mail.",
        "es": "Elija cómo quiere que le avisemos: mensaje de texto o correo electrónico.",
    },
    "phone": {
        "en": "We could not read this phone number. Write it with the country code, for "
        "example +1 617 555 0123.",
        "de": "Diese Telefonnummer konnten wir nicht lesen. Schreiben Sie sie mit "
        "Ländervorwahl, zum Beispiel +49 30 1234567.",
        "es": "No pudimos leer este número. Escríbalo con el código de país, por ejemplo "
        "+1 617 555 0123.",
    },
    "phone_mobile": {
        "en": "This number cannot receive text messages. Give a mobile number, or sign up by "
        "email.",
        "de": "Diese Nummer kann keine SMS empfangen. Geben Sie eine Handynummer an oder "
        "melden Sie sich per E-Mail an.",
        "es": "Este número no puede recibir mensajes de texto. Dé un número de móvil o "
        "inscríbase por correo.",
    },
    "phone_country": {
        "en": "We can only send text messages to numbers in {countries}. Sign up by email instead.",
        "de": "SMS können wir nur an Nummern in {countries} senden. Melden Sie sich bitte per "
        "E-Mail an.",
        "es": "Solo enviamos mensajes de texto a números de {countries}. Inscríbase por correo "
        "electrónico.",
    },
    "email": {
        "en": "This email address does not look right: {reason} Check it and send the form again.",
        # The validator explains in English only: the other languages say it without details.
        "de": "Diese E-Mail-Adresse scheint nicht zu stimmen. Prüfen Sie sie und senden Sie "
        "das Formular erneut.",
        "es": "Esta dirección de correo no parece correcta. Revísela y envíe el formulario de "
        "nuevo.",
    },
    "postal_code": {
        "en": "We do not know the postal code {given!r}. Give a 5-digit US ZIP code or German "
        "postal code (PLZ).",
        "de": "Die Postleitzahl {given!r} kennen wir nicht. Geben Sie eine fünfstellige "
        "deutsche PLZ oder US-ZIP an.",
        "es": "No conocemos el código postal {given!r}. Indique un código ZIP de EE. UU. de "
        "5 cifras o un código postal alemán.",
    },
    "radius": {
        "en": "Choose a distance between 1 and {max_radius} miles.",
        "de": "Wählen Sie eine Entfernung zwischen 1 und {max_radius} km.",
        "es": "Elija una distancia entre 1 y {max_radius} millas.",
    },
    "choice": {
        "en": "{field}: choose one of the options on the form.",
        "de": "{field}: Wählen Sie eine der Möglichkeiten im Formular.",
        "es": "{field}: elija una de las opciones del formulario.",
    },
    "hours": {
        "en": "Quiet hours are whole hours from 0 to 23; give both or neither.",
        "de": "Ruhezeiten sind volle Stunden von 0 bis 23; geben Sie beide oder keine an.",
        "es": "Las horas de silencio son horas enteras de 0 a 23; indique ambas o ninguna.",
    },
    "captcha": {
        "en": "Please complete the check that you are a person, then send the form again.",
        "de": "Bitte bestätigen Sie, dass Sie ein Mensch sind, und senden Sie das Formular erneut.",
        "es": "Complete la comprobación de que es una persona y envíe el formulario de nuevo.",
    },
    "too_large": {
        "en": "The form was too large. Reload the page and fill it in again.",
        "de": "Das Formular war zu groß. Laden Sie die Seite neu und füllen Sie es erneut aus.",
        "es": "El formulario era demasiado grande. Vuelva a cargar la página y rellénelo.",
    },
    "bad_link": {
        "en": "This link does not work. Use the newest link we sent you, or sign up again.",
        "de": "Dieser Link funktioniert nicht. Nutzen Sie den neuesten Link von uns oder "
        "melden Sie sich neu an.",
        "es": "Este enlace no funciona. Use el enlace más reciente que le enviamos o "
        "inscríbase de nuevo.",
    },
    "unknown_subscriber": {
        "en": "We have no subscription for this link any more. You can sign up again.",
        "de": "Zu diesem Link gibt es kein Abonnement mehr. Sie können sich neu anmelden.",
        "es": "Ya no hay suscripción para este enlace. Puede inscribirse de nuevo.",
    },
    "busy": {
        "en": "We are very busy right now. Please try again in a minute.",
        "de": "Gerade ist sehr viel los. Bitte versuchen Sie es in einer Minute erneut.",
        "es": "Ahora hay mucha demanda. Vuelva a intentarlo en un minuto.",
    },
}


def say(code: str, locale: str | None, **fields: Any) -> str:
    texts = MESSAGES[code]
    return texts.get(normalize_locale(locale), texts["en"]).format(**fields)
