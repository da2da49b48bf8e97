"""flagging"""
