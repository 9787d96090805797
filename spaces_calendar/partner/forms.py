from django import forms

#: Cisco's tokens are well under 2 KB; the cap keeps a pasted file or a mistake from reaching the JWT parser.
MAX_TOKEN_CHARS = 8192


class ActivationTokenForm(forms.Form):
    token = forms.CharField(
        label="Activation token",
        max_length=MAX_TOKEN_CHARS,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "autocomplete": "off", "spellcheck": "false"}),
    )
