/// Chat templates for models whose files carry none, chosen from the vocabulary the way llama.cpp picks its built-in
/// templates (the Gemma 3 270M GGUF, for one, has no `tokenizer.chat_template`).
enum BuiltinChatTemplates {
    /// The template for a vocabulary that has the tokens `hasToken` says it has, or nil.
    static func template(hasToken: (String) -> Bool) -> String? {
        if hasToken("<start_of_turn>") && hasToken("<end_of_turn>") { return gemma }
        return nil
    }

    /// Gemma's turn format, as in Gemma 3's Hugging Face template: a system message is prefixed to the first user
    /// turn, "assistant" is written "model", contents are trimmed. Unlike the Hugging Face original it writes no
    /// `bos_token`: the GGUF tokenizer adds BOS to every prompt (`tokenizer.ggml.add_bos_token`), as llama.cpp does.
    static let gemma = """
        {%- if messages[0]['role'] == 'system' -%}
            {%- if messages[0]['content'] is string -%}
                {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
            {%- else -%}
                {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
            {%- endif -%}
            {%- set loop_messages = messages[1:] -%}
        {%- else -%}
            {%- set first_user_prefix = "" -%}
            {%- set loop_messages = messages -%}
        {%- endif -%}
        {%- for message in loop_messages -%}
            {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
                {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
            {%- endif -%}
            {%- if (message['role'] == 'assistant') -%}
                {%- set role = "model" -%}
            {%- else -%}
                {%- set role = message['role'] -%}
            {%- endif -%}
            {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
            {%- if message['content'] is string -%}
                {{ message['content'] | trim }}
            {%- elif message['content'] is iterable -%}
                {%- for item in message['content'] -%}
                    {%- if item['type'] == 'text' -%}
                        {{ item['text'] | trim }}
                    {%- endif -%}
                {%- endfor -%}
            {%- else -%}
                {{ raise_exception("Invalid content type") }}
            {%- endif -%}
            {{ '<end_of_turn>\\n' }}
        {%- endfor -%}
        {%- if add_generation_prompt -%}
            {{ '<start_of_turn>model\\n' }}
        {%- endif -%}
        """
}
